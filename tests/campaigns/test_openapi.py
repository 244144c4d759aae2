"""The campaigns API is described in the OpenAPI document."""


def test_campaign_paths_are_in_the_openapi_document(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/campaigns" in paths
    assert "/api/v1/campaigns/{campaign_id}/review" in paths
    for action in (
        "activate",
        "request-approval",
        "approve",
        "request-changes",
        "cancel-approval",
        "stop",
        "archive",
        "duplicate",
        "modify",
    ):
        assert f"/api/v1/campaigns/{{campaign_id}}/{action}" in paths
    assert "/api/v1/approval-policies" in paths
