"""Running `wrk` with a Lua script that POSTs a JSON body and counts the expected status."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"

local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expected = 0
  other = 0
end

function response(status, headers, body)
  if status == {status} then
    expected = expected + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local e, o = 0, 0
  for _, t in ipairs(threads) do
    e = e + t:get("expected")
    o = o + t:get("other")
  end
  io.write(string.format("BENCH_STATUS expected=%d other=%d\\n", e, o))
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests_per_second: float
    requests: int
    expected_status: int
    other_status: int
    socket_errors: int
    latency_ms: dict[str, float]
    output: str


def require_wrk() -> str:
    """The wrk executable, or an explanation of how to get it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is required for this benchmark: apt-get install wrk")
    return path


def write_script(path: Path, *, body: str, token: str, status: int) -> Path:
    """Write a Lua script that POSTs `body` and counts responses with `status`."""
    path.write_text(_SCRIPT.format(body=body, token=token, status=status))
    return path


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unparsable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    """Parse wrk's `--latency` report and the script's status counts."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    status = re.search(r"BENCH_STATUS expected=(\d+) other=(\d+)", output)
    if rps is None or total is None or status is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    latency = {
        m.group(1): _milliseconds(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE)
    }
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(g) for g in errors.groups()) if errors else 0
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        expected_status=int(status.group(1)),
        other_status=int(status.group(2)),
        socket_errors=socket_errors,
        latency_ms=latency,
        output=output,
    )


def run(
    url: str, script: Path, *, threads: int = 2, connections: int = 16, seconds: int = 10
) -> WrkResult:
    """Run wrk against `url` and parse its report."""
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse(done.stdout)
