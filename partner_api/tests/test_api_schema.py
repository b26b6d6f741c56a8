from django.core.management import call_command


def test_openapi_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    assert "/api/v1/bookings/" in schema
    assert "scheme: bearer" in schema
