"""ragd_client.langchain - ragd as a LangChain retriever and embeddings (pip install "./clients/python[langchain]").

    from ragd_client.langchain import RagdRetriever, RagdEmbeddings
    retriever = RagdRetriever(url="http://ragd:8080", api_key="...", k=5)
    docs = retriever.invoke("reset a password")   # Documents: page_content + url, title, headings, score, ...

RagdEmbeddings gives the index's own vectors (POST /v1/embeddings), so a
LangChain pipeline embeds its queries exactly as the index was built.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from . import RagdClient

__all__ = ["RagdRetriever", "RagdEmbeddings"]


class RagdRetriever(BaseRetriever):
    """Search ragd for each query; every hit becomes a Document."""

    url: str
    api_key: Optional[str] = None
    k: int = 5
    mode: Optional[str] = None
    filter: Optional[Dict[str, Any]] = None
    timeout: float = 30.0

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> List[Document]:
        r = RagdClient(self.url, api_key=self.api_key, timeout=self.timeout).search(query, k=self.k, mode=self.mode,
                                                                                  filter=self.filter)
        return [Document(page_content=h.text,
                         metadata={"id": h.id, "url": h.url, "title": h.title, "headings": h.headings,
                                   "score": h.score, "index_version": r.index_version, "found_by": h.found_by})
                for h in r.hits]


class RagdEmbeddings(Embeddings):
    """The index's own embedder behind LangChain's Embeddings interface."""

    def __init__(self, url: str, api_key: Optional[str] = None, timeout: float = 30.0):
        self._client = RagdClient(url, api_key=api_key, timeout=timeout)

    def embed_documents(self, texts: List[str]) -> List[List[float]]:
        return self._client.embed(texts) if texts else []

    def embed_query(self, text: str) -> List[float]:
        return self._client.embed([text])[0]
