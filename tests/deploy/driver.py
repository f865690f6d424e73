"""One warm Lambda execution environment, run by the rehearsal's clean Python 3.11 runtime (never the dev venv).

Started as `<runtime>/bin/python -I driver.py <task dir> <handler> <timeout seconds>` with the function's
environment. It imports the handler the way Lambda's bootstrap does (`app.app` → module `app`, attribute `app`,
with the unzipped package first on sys.path), then answers invocations: one JSON line in on stdin
(`{"event": …}`), one JSON line out (`{"result": …, "ms": …}` or `{"error": "<traceback>", "ms": …}`).
The function's own stdout and stderr (its logs) go to stderr, which the rehearsal keeps as the function's log.
Standard library only: nothing here may be something the Lambda runtime lacks.
"""
import importlib
import json
import os
import sys
import time
import traceback
import uuid


class LambdaContext:
    """The attributes Lambda's context object has that Chalice and Powertools read."""

    def __init__(self, timeout_seconds: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ["AWS_REGION"]
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    task_dir, handler_name, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the function prints (logs, EMF metrics) is its log, not the protocol
    sys.stdout = sys.stderr
    sys.path.insert(0, task_dir)
    os.chdir(task_dir)
    module_name, _, attribute = handler_name.rpartition(".")
    started = time.monotonic()
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except BaseException:
        protocol.write(json.dumps({"error": "init: " + traceback.format_exc()}) + "\n")
        return
    protocol.write(json.dumps({"ready": True, "ms": int((time.monotonic() - started) * 1000)}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        try:
            result = handler(request["event"], LambdaContext(timeout))
            reply = {"result": result}
        except BaseException:
            reply = {"error": traceback.format_exc()}
        reply["ms"] = int((time.monotonic() - started) * 1000)
        sys.stderr.flush()
        protocol.write(json.dumps(reply, default=str) + "\n")


if __name__ == "__main__":
    main()
