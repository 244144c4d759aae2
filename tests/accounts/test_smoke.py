import pytest


@pytest.mark.django_db
def test_campaign_list_requires_login(client):
    response = client.get("/campaigns/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_viewer_sees_campaign_list(login, viewer):
    assert login(viewer).get("/campaigns/").status_code == 200


def test_api_me_with_key(api_for, manager):
    response = api_for(manager).get("/me")
    assert response.status_code == 200
    assert response.json()["roles"] == ["Campaign Manager"]


def test_api_without_key_is_problem_json(anonymous_api):
    response = anonymous_api.get("/me")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
