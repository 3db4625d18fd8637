"""All configuration in one typed object, read from KB_* environment variables."""

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# How the embedding model runs. Vectors made one way are never mixed with another's.
EmbeddingBackend = Literal["onnx-int8", "onnx-fp32", "torch"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KB_", extra="ignore")

    home: Path = Field(
        default=Path("kb-data"),
        description="Data folder: the SQLite database and the index files live here.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database; default is a SQLite file in KB_HOME.",
    )
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="Embedding model: a packaged model name or a local model folder.",
    )
    embedding_batch_size: int = Field(default=32, description="Texts per encode batch.")
    embedding_backend: EmbeddingBackend = Field(
        default="onnx-int8",
        description="How the model runs: `onnx-int8` (fastest), `onnx-fp32` or `torch`. "
        "After a change, `kb reindex` re-embeds every entry.",
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Folder for the model's ONNX export, made once at first use; "
        "default KB_HOME/models.",
    )
    passage_tokens: int = Field(
        default=256,
        description="Longest passage in model tokens; longer entries are split.",
    )
    passage_overlap_tokens: int = Field(
        default=32, description="Tokens shared by consecutive passages of one entry."
    )
    default_community: str = Field(
        default="general", description="Community of imported entries that name none."
    )
    max_query_chars: int = Field(default=1000, description="Longest accepted search query.")
    search_candidates: int = Field(
        default=100, description="Hits taken from each retriever before fusion."
    )
    keyword_common_entries: int = Field(
        default=2000,
        description="A query word found in more entries than this is too common to look "
        "for on its own: keyword search matches the query's other words, or all of them "
        "together if every word is this common. Keeps keyword search fast on large "
        "knowledge bases.",
    )
    ivf_threshold: int = Field(
        default=20_000,
        description="Passages from which `kb reindex` builds an approximate IVF index "
        "(compact vectors, KB_IVF_ENCODING) instead of the exact flat one.",
    )
    ivf_nlist: int = Field(default=0, description="IVF cells; 0 chooses about 4·sqrt(passages).")
    ivf_nprobe: int = Field(
        default=0,
        ge=0,
        description="IVF cells scanned per query: more finds more of the exact hits, slower. "
        "0 scans a tenth of the cells, at least 64 and at most 256.",
    )
    ivf_encoding: Literal["sq8", "fp16"] = Field(
        default="sq8",
        description="How an IVF index keeps each vector: `sq8` (8-bit, a quarter of the "
        "float32 size) or `fp16` (half, slightly more exact).",
    )
    index_mmap: bool = Field(
        default=False,
        description="Memory-map an IVF index's file instead of reading it into memory: "
        "instant load and pages shared by workers, but searches about 8 times slower.",
    )
    query_cache_size: int = Field(
        default=1024,
        description="Recent query texts whose vectors are kept, so a repeated query skips "
        "the model; 0 turns the cache off.",
    )
    min_similarity: float = Field(
        default=0.3,
        description="Cosine similarity below which a dense hit is not a match by meaning.",
    )
    match_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="What counts as a match: an entry scoring at least this share of the "
        "best hit's score, by meaning (cosine, and at least KB_MIN_SIMILARITY) or by "
        "keywords (BM25); only matches are counted and shown. 0 counts every entry either "
        "retriever finds. Chosen on SemEval dev (BENCHMARKS.md).",
    )
    rrf_k: int = Field(default=60, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(default=1.0, description="Weight of the dense ranking in fusion.")
    keyword_weight: float = Field(
        default=1.0, description="Weight of the keyword ranking in fusion."
    )
    routing_threshold: float = Field(
        default=0.65,
        description="When no answered case is at least this similar to a new problem, kb "
        "suggests asking the people who solved similar ones.",
    )
    routing_people: int = Field(default=3, description="People suggested for routing.")
    escalation_days: float = Field(
        default=3.0,
        description="Days a routed problem may stay without a solution before it "
        "escalates to its community's tutors.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="Mail server for routing e-mails; unset (the default) sends none: "
        "the in-app inbox always works.",
    )
    smtp_port: int = Field(default=25, description="Port of KB_SMTP_HOST.")
    smtp_sender: str = Field(default="kb@localhost", description="From address of e-mails.")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Address of kb used in links in e-mails and webhook payloads.",
    )
    log_searcher_identity: bool = Field(
        default=False,
        description="Keep who searched in the search log (off: searches stay anonymous).",
    )
    search_log_days: int = Field(
        default=180, description="Days the search log is kept before it is pruned."
    )
    failed_search_similarity: float = Field(
        default=0.5,
        description="A search whose best hit is less similar than this counts as failed.",
    )
    gap_cluster_similarity: float = Field(
        default=0.55,
        description="Average similarity that keeps failed searches in one knowledge gap.",
    )
    public_read: bool = Field(
        default=False,
        description="Let people read and search without signing in (`kb demo` turns it on).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that signs session cookies; default: generated once into "
        "KB_HOME/secret.key.",
    )
    session_hours: int = Field(
        default=168, description="Hours a sign-in lasts before the person signs in again."
    )
    secure_cookies: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set behind TLS)."
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are believed (for the client's address and scheme); "
        "unset or empty (the default) believes none: the client is the connection's peer.",
    )
    password_sign_in: bool = Field(
        default=True,
        description="Let people sign in with a kb user name and password; turn off for an "
        "install where everyone signs in through single sign-on (KB_OIDC_ISSUER).",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="Single sign-on: the OpenID Connect provider's issuer URL (its "
        "discovery document is ISSUER/.well-known/openid-configuration); unset (the "
        "default) offers no single sign-on.",
    )
    oidc_discovery_url: str | None = Field(
        default=None,
        description="The provider's discovery document, when it is not under "
        "KB_OIDC_ISSUER (enough on its own: the issuer is read from it).",
    )
    oidc_client_id: str | None = Field(
        default=None, description="The client id kb is registered with at the provider."
    )
    oidc_client_secret: str | None = Field(
        default=None,
        description="The client secret kb is registered with at the provider (unset for a "
        "public client: PKCE protects the code either way).",
    )
    oidc_scopes: str = Field(
        default="openid profile email",
        description="Scopes asked of the provider, space-separated (`openid` is required).",
    )
    oidc_groups_claim: str = Field(
        default="groups",
        description="Claim of the ID token (or userinfo) that lists the person's groups; "
        "a dotted path such as `realm_access.roles` reaches into an object.",
    )
    oidc_group_map: str = Field(
        default="{}",
        description='JSON mapping a group to the communities and roles it gives, e.g. `{"'
        'maintenance": {"communities": ["maintenance"]}, "km": {"roles": '
        '["knowledge_manager"]}}`; applied at every single sign-on (see Single sign-on).',
    )
    oidc_button_label: str = Field(
        default="single sign-on",
        description='What the sign-in button says after "Sign in with", e.g. `Brightwater '
        "account`.",
    )
    oidc_link_verified_email: bool = Field(
        default=False,
        description="At a person's first single sign-on, join it to the existing kb account "
        "with the same e-mail if the provider says the e-mail is verified (off: such a "
        "sign-in is refused until an admin decides; see Single sign-on).",
    )
    standard_boost: float = Field(
        default=1.3, description="Search score factor for standard-repertoire content."
    )
    validated_boost: float = Field(
        default=1.15, description="Search score factor for validated content."
    )
    review_interval_days: int = Field(
        default=180, description="Default time between reviews of a repertoire article."
    )
    review_due_soon_days: int = Field(
        default=14, description="Articles whose review falls within this many days show as due."
    )
    webhook_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a webhook receiver has to connect and to answer each read; "
        "longer counts as a failed attempt.",
    )
    webhook_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Wait before the first retry of a failed webhook delivery; each further "
        "retry waits 4 times longer (30 s, 2 min, 8 min, 32 min, …), at most 6 hours.",
    )
    webhook_max_attempts: int = Field(
        default=10,
        ge=1,
        description="Attempts of one webhook delivery before it is marked failed (10: retries "
        "over about 27 hours).",
    )
    webhook_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often each `kb serve` process looks for webhook deliveries that "
        "are due (those it queued itself go out at once).",
    )
    webhook_log_days: int = Field(
        default=30,
        ge=1,
        description="Days delivered and failed webhook deliveries stay in the log.",
    )
    attachment_max_mb: float = Field(
        default=10,
        gt=0,
        description="Largest image or file that can be attached to an entry, in megabytes "
        "(at most 20 attachments an entry).",
    )
    host: str = Field(default="127.0.0.1", description="Address `kb serve` listens on.")
    port: int = Field(default=8000, description="Port `kb serve` listens on.")
    workers: int = Field(
        default=0,
        ge=0,
        description="Worker processes `kb serve` starts (0: one per core, at most 4); each "
        "holds its own index and model in memory and catches up with the database (see "
        "Deployment).",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'kb.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def attachments_dir(self) -> Path:
        """Attached files, one per SHA-256 (kb.attachment_store)."""
        return self.home / "attachments"

    @property
    def attachment_max_bytes(self) -> int:
        return int(self.attachment_max_mb * 1_000_000)

    @property
    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.home / "models"

    def session_secret(self) -> str:
        """The configured key, or one generated once and kept in KB_HOME (readable by owner)."""
        if self.secret_key:
            return self.secret_key
        self.ensure_home()
        path = self.home / "secret.key"
        if not path.exists():
            temporary = path.with_name(f"secret.key.{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48))
            try:
                os.link(temporary, path)  # fails if another process made one first
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        return path.read_text().strip()

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.index_dir.mkdir(parents=True, exist_ok=True)


def settings_reference() -> str:
    """The Markdown table of every setting, as the README shows it (checked by a test)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "(none)" if field.default is None else f"`{field.default}`"
        lines.append(f"| `KB_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(lines)
