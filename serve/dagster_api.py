"""The pipeline's status and runs, from the Dagster webserver's GraphQL API (httpx; no Dagster import).

Every failure (nothing listening, a timeout, an HTTP error, a GraphQL error, an error union member) is a
DagsterUnavailable whose message names what was asked, never the URL's credentials or a token.
"""

from __future__ import annotations

import threading

import httpx

from resources.settings import shown_url

ACTIVE_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
DONE_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")

_RUN_FIELDS = "runId jobName status creationTime startTime endTime tags { key value }"


class DagsterUnavailable(Exception):
    """The Dagster webserver did not answer, or answered with an error."""


def _run(raw: dict) -> dict:
    return {"run_id": raw["runId"], "job": raw["jobName"], "status": raw["status"],
            "start_time": raw.get("startTime") or raw.get("creationTime"), "end_time": raw.get("endTime"),
            "tags": {t["key"]: t["value"] for t in raw.get("tags") or []}}


class DagsterClient:
    """`timeout`: seconds for a status query; `launch_timeout`: for what builds a job (launching a run,
    adding a partition), which a busy webserver can take much longer to answer."""

    def __init__(self, url: str, timeout: float = 5.0, launch_timeout: float = 120.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.launch_timeout = launch_timeout
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)))
        self._repository: dict | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DagsterClient({shown_url(self.url)})"

    def close(self) -> None:
        self._http.close()

    # ---- transport -----------------------------------------------------------------------------------------

    def query(self, query: str, timeout: float | None = None, **variables) -> dict:
        """The `data` of one GraphQL request (within `timeout` s, default the client's); DagsterUnavailable on
        any failure."""
        wait = timeout or self.timeout
        try:
            answer = self._http.post(f"{self.url}/graphql", json={"query": query, "variables": variables},
                                     timeout=httpx.Timeout(wait, connect=min(wait, 2.0)))
        except httpx.TimeoutException:
            raise DagsterUnavailable(f"the Dagster webserver did not answer within {wait:g} s") from None
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
            raise DagsterUnavailable(f"the Dagster webserver cannot be reached ({kind})") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("errors"):  # a query it refused (HTTP 400) or could not answer
            first = body["errors"][0] if isinstance(body["errors"], list) else body["errors"]
            message = first.get("message", first) if isinstance(first, dict) else first
            raise DagsterUnavailable(f"GraphQL error: {str(message)[:300]}")
        if answer.status_code != 200:
            raise DagsterUnavailable(f"the Dagster webserver answered HTTP {answer.status_code}")
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise DagsterUnavailable("the Dagster webserver answered something other than GraphQL data")
        return body["data"]

    @staticmethod
    def _expect(node: dict | None, typename: str, what: str) -> dict:
        if not node or node.get("__typename") != typename:
            kind = (node or {}).get("__typename", "nothing")
            message = str((node or {}).get("message", ""))[:300]
            raise DagsterUnavailable(f"{what}: Dagster answered {kind}" + (f": {message}" if message else ""))
        return node

    # ---- status --------------------------------------------------------------------------------------------

    def latest_materializations(self) -> list[dict]:
        """[{"asset", "last_materialized" (epoch s), "run_id", "partition"}] per asset; DagsterUnavailable."""
        nodes = self.query("{ assetNodes { assetKey { path } } }")["assetNodes"]
        keys = [{"path": n["assetKey"]["path"]} for n in nodes]
        if not keys:
            return []
        infos = self.query("query($k: [AssetKeyInput!]!) { assetsLatestInfo(assetKeys: $k) { assetKey "
                           "{ path } latestMaterialization { timestamp runId partition } } }",
                           k=keys)["assetsLatestInfo"]
        out = []
        for info in infos:
            m = info.get("latestMaterialization")
            if not m:
                continue
            out.append({"asset": "/".join(info["assetKey"]["path"]),
                        "last_materialized": int(m["timestamp"]) / 1000, "run_id": m["runId"],
                        "partition": m.get("partition")})
        return sorted(out, key=lambda a: a["asset"])

    def recent_runs(self, limit: int = 20) -> list[dict]:
        """[{"run_id", "job", "status", "start_time", "end_time" (epoch s or None), "tags": {}}], newest
        first."""
        return self.runs(limit=limit)

    def runs(self, *, limit: int = 20, statuses: list[str] | None = None, tags: dict[str, str] | None = None,
             created_after: float | None = None) -> list[dict]:
        """Runs matching the filter, newest first (the shape of recent_runs)."""
        filt: dict = {}
        if statuses:
            filt["statuses"] = list(statuses)
        if tags:
            filt["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if created_after is not None:
            filt["createdAfter"] = created_after
        data = self.query(f"query($f: RunsFilter, $n: Int) {{ runsOrError(filter: $f, limit: $n) {{ "
                          f"__typename "
                          f"... on Runs {{ results {{ {_RUN_FIELDS} }} }} ... on PythonError {{ message }} "
                          f"... on InvalidPipelineRunsFilterError {{ message }} }} }}", f=filt, n=limit)
        return [_run(r) for r in self._expect(data["runsOrError"], "Runs", "runs")["results"]]

    def failed_runs(self) -> int:
        """How many runs on the instance failed."""
        data = self.query("{ runsOrError(filter: {statuses: [FAILURE]}) { __typename ... on Runs { count } "
                          "... on PythonError { message } } }")
        return int(self._expect(data["runsOrError"], "Runs", "failed runs")["count"])

    def run(self, run_id: str) -> dict:
        """One run (the shape of recent_runs); DagsterUnavailable also when there is no such run."""
        data = self.query(f"query($id: ID!) {{ runOrError(runId: $id) {{ __typename "
                          f"... on Run {{ {_RUN_FIELDS} }} ... on RunNotFoundError {{ message }} "
                          f"... on PythonError {{ message }} }} }}", id=run_id)
        return _run(self._expect(data["runOrError"], "Run", "run"))

    def run_status(self, run_id: str) -> str:
        return self.run(run_id)["status"]

    # ---- launching -----------------------------------------------------------------------------------------

    def repository(self, job: str | None = None) -> dict:
        """{"name", "location"} of the repository (the one holding `job` when given)."""
        with self._lock:
            cached = self._repository
        if cached and (job is None or job in cached["jobs"]):
            return cached
        data = self.query("{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name "
                          "location { name } jobs { name } } } ... on PythonError { message } } }",
                          timeout=self.launch_timeout)
        nodes = self._expect(data["repositoriesOrError"], "RepositoryConnection", "repositories")["nodes"]
        repos = [{"name": n["name"], "location": n["location"]["name"],
                  "jobs": {j["name"] for j in n["jobs"]}} for n in nodes]
        found = [r for r in repos if job is None or job in r["jobs"]]
        if not found:
            raise DagsterUnavailable(f"no repository on the Dagster webserver has the job {job!r}")
        with self._lock:
            self._repository = found[0]
        return found[0]

    def add_dynamic_partition(self, partitions_def: str, key: str) -> bool:
        """Add `key` to a dynamic partitions definition; False when it was there already."""
        repo = self.repository()
        data = self.query(
            "mutation($key: String!, $def: String!, $repo: RepositorySelector!) { addDynamicPartition("
            "partitionKey: $key, partitionsDefName: $def, repositorySelector: $repo) { __typename "
            "... on PythonError { message } ... on UnauthorizedError { message } } }",
            timeout=self.launch_timeout, key=key,
            repo={"repositoryName": repo["name"], "repositoryLocationName": repo["location"]},
            **{"def": partitions_def})
        kind = data["addDynamicPartition"]["__typename"]
        if kind == "DuplicateDynamicPartitionError":
            return False
        self._expect(data["addDynamicPartition"], "AddDynamicPartitionSuccess", "adding a partition")
        return True

    def launch_run(self, job: str, tags: dict[str, str], assets: list[str] | None = None) -> str:
        """Launch (queue) a run of `job` with `tags`, of these assets only when given; its run id."""
        repo = self.repository(job)
        selector = {"jobName": job, "repositoryName": repo["name"],
                    "repositoryLocationName": repo["location"]}
        if assets:
            keys = [{"path": a.split("/")} for a in assets]
            # a multi-asset that cannot be subset comes whole: the keys it adds, as the UI's launcher asks
            extra = self.query("query($k: [AssetKeyInput!]!) { assetNodeAdditionalRequiredKeys("
                               "assetKeys: $k) { path } }", timeout=self.launch_timeout,
                               k=keys)["assetNodeAdditionalRequiredKeys"]
            keys += [{"path": e["path"]} for e in extra if {"path": e["path"]} not in keys]
            selector["assetSelection"] = keys
        data = self.query(
            "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
            "... on LaunchRunSuccess { run { runId } } ... on Error { message } } }",
            timeout=self.launch_timeout,
            p={"selector": selector,
               "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}})
        return self._expect(data["launchRun"], "LaunchRunSuccess", f"launching {job}")["run"]["runId"]
