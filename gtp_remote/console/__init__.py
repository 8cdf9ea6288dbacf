"""The operators' web console at ``/ui/``: hosts, jobs, an approvals inbox, the audit log and
the specialists, server-rendered by the same aiohttp app, with a little JS for live updates.

``sessions`` signs people in (a pasted gateway token; an HttpOnly, SameSite=Strict cookie; a CSRF
token on every form), ``views`` serves the pages over the same operations the REST API and MCP
use, with exactly the permissions of the token the session was opened with.
"""
