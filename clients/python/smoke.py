"""A smoke test of a Python client generated from the committed OpenAPI document by
openapi-python-client (.ci/python generates it, then runs this against a demo service): a
caseworker logs in and lists clients, and a wrong password is a typed problem."""
import os
import sys
import uuid

from casebridge_client import AuthenticatedClient, Client
from casebridge_client.api.auth import login
from casebridge_client.api.clients import list_clients
from casebridge_client.models import LoginRequest, PageClientRecord, Problem, TokenResponse

base_url = os.environ["CASEBRIDGE_URL"]
password = os.environ["CASEBRIDGE_DEMO_PASSWORD"]

anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
tokens = login.sync(client=anonymous, body=LoginRequest(username="caseworker", password=password))
assert isinstance(tokens, TokenResponse), tokens
assert tokens.token_type == "Bearer" and tokens.expires_in > 0

caseworker = AuthenticatedClient(base_url=base_url, token=tokens.access_token)
page = list_clients.sync(client=caseworker, limit=5)
assert isinstance(page, PageClientRecord), page
assert 0 < len(page.items) <= 5, page
for record in page.items:
    assert isinstance(record.id, uuid.UUID), record

refused = login.sync_detailed(
    client=anonymous, body=LoginRequest(username="caseworker", password="not the password at all")
)
assert refused.status_code == 401, refused.status_code
assert isinstance(refused.parsed, Problem) and refused.parsed.code == "invalid_credentials", refused.parsed

print(f"python client: logged in, listed {len(page.items)} clients, a wrong password is {refused.parsed.code}")
sys.exit(0)
