"""Audience pages: builder with preview, upload with the error report, detail, permissions."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from guardian.shortcuts import assign_perm

from audiences.importer import profile_import_run
from audiences.models import Audience, Profile, ProfileImport

RULE = {"all": [{"field": "attributes.city", "op": "eq", "value": "Paris"}]}


@pytest.fixture
def town(db):
    for i, (city, age) in enumerate([("Paris", 30), ("Paris", 50), ("Lyon", 41)]):
        Profile.objects.create(email=f"p{i}@example.com", attributes={"city": city, "age": age})


def builder_data(name="Paris 40+", rows=(("attributes.city", "eq", "Paris"),), **extra):
    data = {"name": name, "match": "all", "c-TOTAL_FORMS": str(len(rows)), "c-INITIAL_FORMS": "0"}
    for i, (field, op, value) in enumerate(rows):
        data.update({f"c-{i}-field": field, f"c-{i}-op": op, f"c-{i}-value": value})
    data.update(extra)
    return data


def test_list_shows_audiences_with_sizes_and_kinds(login, viewer, town):
    Audience.objects.create(name="Everyone in Paris", kind="rule", rule=RULE, size=2)
    response = login(viewer).get("/audiences/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Everyone in Paris" in body and "Rule" in body
    assert "New rule audience" not in body  # viewers read only


def test_list_wrong_method(login, viewer):
    assert login(viewer).post("/audiences/").status_code == 405


def test_outsider_is_refused_the_list(login, outsider):
    assert login(outsider).get("/audiences/").status_code == 403


def test_builder_previews_then_saves(login, manager, town):
    client = login(manager)
    assert client.get("/audiences/new/").status_code == 200
    rows = (("attributes.city", "eq", "Paris"), ("attributes.age", "gt", "40"), ("", "eq", ""))
    preview = client.post("/audiences/new/", builder_data(rows=rows, preview="1"))
    assert preview.status_code == 200
    assert "1 profile matches." in preview.content.decode()
    assert not Audience.objects.exists()
    saved = client.post("/audiences/new/", builder_data(rows=rows, save="1"))
    audience = Audience.objects.get()
    assert saved.status_code == 302
    assert saved["Location"] == f"/audiences/{audience.pk}/"
    assert audience.rule == {
        "all": [
            {"field": "attributes.city", "op": "eq", "value": "Paris"},
            {"field": "attributes.age", "op": "gt", "value": 40},
        ]
    }
    detail = client.get(saved["Location"])
    assert detail.status_code == 200
    assert "p1@example.com" in detail.content.decode()


def test_builder_reports_bad_conditions_on_their_row(login, manager, town):
    rows = (("attributes.age", "gt", "forty"), ("shoe_size", "eq", "4"))
    response = login(manager).post("/audiences/new/", builder_data(rows=rows, save="1"))
    assert response.status_code == 200
    forms = response.context["formset"].forms
    assert "value" in forms[0].errors
    assert "field" in forms[1].errors
    assert not Audience.objects.exists()


def test_builder_adds_a_row_without_javascript(login, manager):
    response = login(manager).post("/audiences/new/", builder_data(add="1"))
    assert len(response.context["formset"].forms) == 2


def test_builder_takes_nested_json(login, manager, town):
    rule = '{"any": [{"field": "attributes.city", "op": "eq", "value": "Lyon"}, {"all": [{"field": "attributes.age", "op": "lt", "value": 40}]}]}'
    response = login(manager).post(
        "/audiences/new/", builder_data(rows=(), rule_json=rule, save="1")
    )
    assert response.status_code == 302
    assert Audience.objects.get().size == 2
    bad = login(manager).post("/audiences/new/", builder_data(name="B", rows=(), rule_json="{no"))
    assert "rule_json" in bad.context["form"].errors


def test_live_preview_answers_json(login, manager, town):
    client = login(manager)
    data = client.post("/audiences/preview/", builder_data()).json()
    assert (data["size"], data["label"]) == (2, "2 profiles match.")
    bad = client.post("/audiences/preview/", builder_data(rows=(("x", "eq", "1"),))).json()
    assert bad["size"] is None and bad["errors"]
    assert client.get("/audiences/preview/").status_code == 405


def test_viewer_cannot_create_edit_upload_or_delete(login, viewer, town):
    audience = Audience.objects.create(name="A", kind="rule", rule=RULE)
    client = login(viewer)
    assert client.get("/audiences/new/").status_code == 403
    assert client.post("/audiences/new/", builder_data(save="1")).status_code == 403
    assert client.post("/audiences/preview/", builder_data()).status_code == 403
    assert client.get(f"/audiences/{audience.pk}/edit/").status_code == 403
    assert client.post("/audiences/upload/", {"name": "U"}).status_code == 403
    assert client.post(f"/audiences/{audience.pk}/delete/").status_code == 403
    assert Audience.objects.count() == 1


def test_restricted_audience_is_404_for_others(login, manager, approver, town):
    audience = Audience.objects.create(name="S", kind="rule", rule=RULE, restricted=True)
    client = login(manager)
    assert client.get(f"/audiences/{audience.pk}/").status_code == 404
    assert client.post(f"/audiences/{audience.pk}/delete/").status_code == 404
    assert "S" not in [a.name for a in client.get("/audiences/").context["page"].object_list]
    assign_perm("audiences.change_audience", approver, audience)
    assert login(approver).get(f"/audiences/{audience.pk}/edit/").status_code == 200


def test_edit_rule_audience(login, manager, town):
    audience = Audience.objects.create(name="A", kind="rule", rule=RULE)
    client = login(manager)
    page = client.get(f"/audiences/{audience.pk}/edit/")
    assert page.context["formset"].forms[0].initial["value"] == "Paris"
    rows = (("attributes.city", "eq", "Lyon"),)
    response = client.post(
        f"/audiences/{audience.pk}/edit/", builder_data(name="B", rows=rows, save="1")
    )
    assert response.status_code == 302
    audience.refresh_from_db()
    assert (audience.name, audience.size) == ("B", 1)


def test_upload_shows_progress_then_the_error_report(
    login, manager, django_capture_on_commit_callbacks
):
    client = login(manager)
    assert client.get("/audiences/upload/").status_code == 200
    csv = b"email,phone\na@example.com,\n,\nb@example.com,123\n"
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/audiences/upload/", {"name": "Fair", "file": SimpleUploadedFile("fair.csv", csv)}
        )
    audience = Audience.objects.get()
    assert response["Location"] == f"/audiences/{audience.pk}/"
    pending = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in pending and "<progress" in pending
    profile_import_run(import_id=ProfileImport.objects.get().pk)
    done = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in done
    assert "No identity" in done and "phone" in done
    assert ">3<" in done and ">4<" in done  # the rejected lines


def test_upload_form_errors(login, manager):
    response = login(manager).post("/audiences/upload/", {"name": ""})
    assert response.status_code == 200
    assert {"name", "file"} <= set(response.context["form"].errors)


def test_reupload_into_an_upload_audience(login, manager, django_capture_on_commit_callbacks):
    audience = Audience.objects.create(name="U", kind="upload")
    with django_capture_on_commit_callbacks(execute=False):
        response = login(manager).post(
            f"/audiences/{audience.pk}/upload/",
            {"file": SimpleUploadedFile("u.csv", b"email\na@example.com\n")},
        )
    assert response.status_code == 302
    assert ProfileImport.objects.get().audience == audience


def test_delete_audience(login, manager):
    audience = Audience.objects.create(name="A", kind="rule", rule=RULE)
    client = login(manager)
    assert client.get(f"/audiences/{audience.pk}/delete/").status_code == 405
    assert client.post(f"/audiences/{audience.pk}/delete/").status_code == 302
    assert not Audience.objects.exists()


def test_restricted_upload_from_the_page(
    login, manager, make_user, django_capture_on_commit_callbacks
):
    from accounts.roles import MANAGER

    with django_capture_on_commit_callbacks(execute=False):
        response = login(manager).post(
            "/audiences/upload/",
            {
                "name": "VIP",
                "restricted": "on",
                "file": SimpleUploadedFile("v.csv", b"email\na@example.com\n"),
            },
        )
    audience = Audience.objects.get()
    assert audience.restricted
    assert login(manager).get(response["Location"]).status_code == 200
    assert login(make_user("carl", MANAGER)).get(response["Location"]).status_code == 404


def test_detail_shows_the_rule_in_words(login, viewer, town):
    rule = {
        "any": [
            {"field": "attributes.city", "op": "in", "value": ["Paris", "Lyon"]},
            {"all": [{"field": "attributes.age", "op": "gte", "value": 40}]},
        ]
    }
    audience = Audience.objects.create(name="A", kind="rule", rule=rule)
    body = login(viewer).get(f"/audiences/{audience.pk}/").content.decode()
    assert "is one of <code>Paris, Lyon</code>" in body
    assert "is at least <code>40</code>" in body
    assert "Edit rule" not in body and "Delete" not in body
