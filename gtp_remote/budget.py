"""What fits in one answer: the 100,000-character budget every front end shares.

ChatGPT refuses an action's response over 100,000 characters, and MCP clients have similar
limits; the REST API, MCP and the console all shape results with these functions, so a long
output keeps its head and tail the same way wherever it is shown. Sizes are measured as JSON
sends them (a NUL byte takes 6 characters).
"""

from __future__ import annotations

import json
from typing import Any

from gtp_remote.executors.output import clip_json, clip_text
from gtp_remote.fanout import FanOutResult

RESPONSE_BUDGET = 100_000
OUTPUT_BUDGET = 80_000  # what all command output of one response may take; the rest is structure
RUN_OUTPUT_LIMIT = 256 * 1024  # bytes kept per stream while running (head + tail)
#: What an action waiting for approval may take, shown whole: an approver decides on all of it or
#: on nothing, so a larger one is refused rather than cut. It leaves room in a 202 answer for the
#: output so far and, for a specialist's tool call, its arguments.
APPROVAL_BUDGET = 50_000


def json_size(data: Any) -> int:
    """Characters ``data`` takes in a response body (sent with ``ensure_ascii=False``)."""
    return len(json.dumps(data, ensure_ascii=False))


def clip_run(result: dict[str, Any], budget: int = OUTPUT_BUDGET) -> dict[str, Any]:
    """Keep a run's outputs inside ``budget`` characters of JSON, head and tail, stderr getting a
    quarter."""
    stdout, cut_out = clip_json(result.get("stdout", ""), budget * 3 // 4)
    stderr, cut_err = clip_json(result.get("stderr", ""), budget // 4)
    return {
        **result,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": result.get("truncated") or cut_out or cut_err,
    }


def compact_fan_out(result: FanOutResult) -> dict[str, Any]:
    """A fan-out's rows inside the response budget. Each host's output gets an equal share of
    :data:`OUTPUT_BUDGET`, smaller while the rows do not fit, down to 200 characters; with
    hundreds of hosts even that would not fit: then the outputs of hosts that succeeded go
    first, then every output, then the rows of hosts that succeeded (counted in
    ``results_omitted``), then any row beyond the budget. The summary counts every host."""
    limit = RESPONSE_BUDGET - 3_000  # the job's own fields around it (its target: up to 2,000)
    per_host = max(OUTPUT_BUDGET // max(len(result.results), 1), 200)
    while True:
        rows = [clip_run(r.model_dump(), per_host) for r in result.results]
        body: dict[str, Any] = {"results": rows, "summary": result.summary.model_dump(), "ok": result.ok}
        if per_host <= 200 or json_size(body) <= limit:
            break
        per_host = max(per_host * 3 // 4, 200)
    for which in ("ok", "all"):
        if json_size(body) <= limit:
            return body
        for row in rows:
            if which == "all" or row["status"] == "ok":
                row["stdout"] = row["stderr"] = ""
                row["output_omitted"] = True
    if json_size(body) > limit:
        kept = [r for r in rows if r["status"] != "ok"]
        while kept and json_size({**body, "results": kept}) > limit:
            kept = kept[: len(kept) * 9 // 10]
        body["results"] = kept
        body["results_omitted"] = len(rows) - len(kept)
    return body


def clip_llm(result: dict[str, Any]) -> dict[str, Any]:
    """An execute-llm result inside the response budget, whatever the specialist produced.

    The longest step outputs are halved first; if that is not enough, the oldest steps go (their
    count is kept in ``steps_omitted``): the answer and the last steps matter most.
    """
    while json_size(result) > OUTPUT_BUDGET and result["steps"]:
        longest = max(result["steps"], key=lambda s: len(s["output"]))
        if len(longest["output"]) <= 200:
            break
        longest["output"] = clip_text(longest["output"], len(longest["output"]) // 2)[0]
    while json_size(result) > OUTPUT_BUDGET and result["steps"]:
        result["steps"].pop(0)
        result["steps_omitted"] = result.get("steps_omitted", 0) + 1
    return result
