"""ragd_client - a typed client for the ragd retrieval service (standard library only).

    from ragd_client import RagdClient
    ragd = RagdClient("http://127.0.0.1:8080", api_key="...")
    for hit in ragd.search("reset a password", k=5).hits:
        print(hit.score, hit.url, hit.title)

Every error the server answers raises a RagdError subclass carrying the
status, the server's error code and message; 429 (rate limited) and 503
(not ready) are retried up to `retries` times, waiting what Retry-After
says (else an exponential backoff). Nothing is returned half done.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

__all__ = ["RagdClient", "SearchHit", "SearchResult", "RagdError", "BadRequest", "Unauthorized", "Forbidden",
           "NotFound", "RateLimited", "NotReady", "ServerError"]


class RagdError(Exception):
    """An error answer from ragd (or no answer: status 0)."""

    def __init__(self, status: int, code: str, message: str, retry_after: Optional[float] = None):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class BadRequest(RagdError):
    pass


class Unauthorized(RagdError):
    pass


class Forbidden(RagdError):
    pass


class NotFound(RagdError):
    pass


class RateLimited(RagdError):
    pass


class NotReady(RagdError):
    pass


class ServerError(RagdError):
    pass


_BY_STATUS = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 429: RateLimited, 503: NotReady}


@dataclass
class SearchHit:
    id: str
    score: float
    text: str
    url: str
    title: str
    headings: List[str]
    found_by: List[str] = field(default_factory=list)
    scores: Dict[str, float] = field(default_factory=dict)
    flags: List[str] = field(default_factory=list)  # prompt-injection markers in the text


@dataclass
class SearchResult:
    hits: List[SearchHit]
    index_version: str
    mode: str
    cache: str
    took_ms: float
    raw: Dict[str, Any]


@dataclass
class Citation:
    n: int
    id: str
    url: str
    title: str


@dataclass
class Answer:
    answer: str
    citations: List[Citation]
    cache: str
    index_version: str
    usage: Dict[str, Any]
    raw: Dict[str, Any]


class RagdClient:
    def __init__(self, url: str, api_key: Optional[str] = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._model: Optional[str] = None

    # ---- transport ----

    def _request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        attempt = 0
        while True:
            req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                err = self._error(e)
                if e.code in (429, 503) and attempt < self.retries:
                    attempt += 1
                    time.sleep(err.retry_after if err.retry_after is not None else self.backoff * 2 ** (attempt - 1))
                    continue
                raise err from None
            except (urllib.error.URLError, OSError) as e:
                if attempt < self.retries:
                    attempt += 1
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise RagdError(0, "unreachable", str(e)) from None

    @staticmethod
    def _error(e: urllib.error.HTTPError) -> RagdError:
        raw = e.read()
        try:
            err = json.loads(raw).get("error", {})
        except ValueError:
            err = {}
        code = err.get("code") or "http_%d" % e.code
        message = err.get("message") or raw.decode("utf-8", "replace")[:200]
        ra = e.headers.get("Retry-After")
        try:
            retry_after = float(ra) if ra is not None else None
        except ValueError:
            retry_after = None
        cls = _BY_STATUS.get(e.code, ServerError if e.code >= 500 else RagdError)
        return cls(e.code, code, message, retry_after)

    # ---- API ----

    def search(self, query: str, k: int = 10, mode: Optional[str] = None, filter: Optional[Dict[str, Any]] = None,
               alpha: Optional[float] = None, fusion: Optional[str] = None) -> SearchResult:
        """POST /v1/search. mode: vector, keyword or hybrid (server default when None)."""
        body: Dict[str, Any] = {"query": query, "k": k}
        for key, value in (("mode", mode), ("filter", filter), ("alpha", alpha), ("fusion", fusion)):
            if value is not None:
                body[key] = value
        r = self._request("POST", "/v1/search", body)
        hits = [SearchHit(id=h["id"], score=h["score"], text=h["text"], url=h["url"], title=h["title"],
                          headings=h.get("headings", []), found_by=h.get("found_by", []), scores=h.get("scores", {}),
                          flags=h.get("flags", []))
                for h in r["results"]]
        return SearchResult(hits=hits, index_version=r["index_version"], mode=r.get("mode", ""),
                            cache=r.get("cache", ""), took_ms=r.get("took_ms", 0.0), raw=r)

    @staticmethod
    def _answer_body(query: str, k: int, mode: Optional[str], filter: Optional[Dict[str, Any]],
                     max_tokens: Optional[int], stream: bool) -> Dict[str, Any]:
        body: Dict[str, Any] = {"query": query, "k": k, "stream": stream}
        for key, value in (("mode", mode), ("filter", filter), ("max_tokens", max_tokens)):
            if value is not None:
                body[key] = value
        return body

    @staticmethod
    def _answer(r: Dict[str, Any]) -> Answer:
        return Answer(answer=r.get("answer", ""), citations=[Citation(**c) for c in r["citations"]],
                      cache=r.get("cache", ""), index_version=r.get("index_version", ""), usage=r.get("usage", {}),
                      raw=r)

    def answer(self, query: str, k: int = 5, mode: Optional[str] = None, filter: Optional[Dict[str, Any]] = None,
               max_tokens: Optional[int] = None) -> Answer:
        """POST /v1/answer: a grounded answer and the passages it cites."""
        return self._answer(self._request("POST", "/v1/answer",
                                          self._answer_body(query, k, mode, filter, max_tokens, False)))

    def answer_stream(self, query: str, k: int = 5, mode: Optional[str] = None,
                      filter: Optional[Dict[str, Any]] = None, max_tokens: Optional[int] = None) -> Iterator[Any]:
        """POST /v1/answer with "stream": yields the answer's text pieces as they arrive, then the Answer
        (citations, usage, cache). An error after the stream started raises RagdError."""
        data = json.dumps(self._answer_body(query, k, mode, filter, max_tokens, True)).encode()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        req = urllib.request.Request(self.url + "/v1/answer", data=data, method="POST", headers=headers)
        try:
            r = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            raise self._error(e) from None
        with r:
            text, data_lines = [], []
            for raw in r:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    data_lines.append(line[5:].lstrip(" "))
                    continue
                if line or not data_lines:
                    continue
                payload, data_lines = "\n".join(data_lines), []
                if payload == "[DONE]":
                    return
                ev = json.loads(payload)
                if "error" in ev:
                    err = ev["error"]
                    raise RagdError(err.get("status", 502), err.get("code", "stream_error"), err.get("message", ""))
                choices = ev.get("choices") or []
                piece = choices[0].get("delta", {}).get("content") if choices else None
                if piece:
                    text.append(piece)
                    yield piece
                if "citations" in ev:
                    ev["answer"] = "".join(text)
                    yield self._answer(ev)

    def model(self) -> str:
        """The model the index embeds with (GET /v1/models)."""
        if self._model is None:
            self._model = self._request("GET", "/v1/models")["data"][0]["id"]
        return self._model

    def embed(self, texts: Sequence[str]) -> List[List[float]]:
        """The index's own vectors for texts (POST /v1/embeddings), in order."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of strings; wrap one text in a list")
        r = self._request("POST", "/v1/embeddings", {"model": self.model(), "input": list(texts)})
        data = sorted(r["data"], key=lambda d: d["index"])
        if len(data) != len(texts):
            raise RagdError(200, "short_answer", "asked %d vectors, got %d" % (len(texts), len(data)))
        return [d["embedding"] for d in data]

    def index_info(self) -> Dict[str, Any]:
        """GET /v1/index: the live version, embedder, shards, counts."""
        return self._request("GET", "/v1/index")

    def ready(self) -> bool:
        """True when a version is loaded and searchable (GET /ready answers 200); no retries."""
        retries, self.retries = self.retries, 0
        try:
            self._request("GET", "/ready")
            return True
        except NotReady:
            return False
        finally:
            self.retries = retries
