"""Search a STAC API with pystac-client: flexible inputs normalised once, clear errors, retries.

The same function works against the local server (:func:`ecocube.catalog.serve_catalog`) and
public APIs such as Earth Search or the Planetary Computer.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any

import pystac

from ecocube.errors import InvalidInputError, StacApiError

__all__ = [
    "RetryPolicy",
    "SearchQuery",
    "item_search",
    "normalize_bbox",
    "normalize_datetime",
    "normalize_filter",
    "open_client",
    "search",
    "unknown_collections",
]

BBoxLike = str | Sequence[float]
DatetimeLike = str | datetime | date | Sequence[str | datetime | date | None]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of HTTP requests (urllib3 ``Retry``) on connection errors and 5xx answers.

    A server that accepts the request and stays silent for ``timeout`` seconds is not asked
    again (a hung server would otherwise cost ``timeout`` per retry); 4xx answers and
    malformed JSON are deterministic and never retried.

    Attributes
    ----------
    max_retries
        Retries per request (0 disables them).
    backoff_factor
        Sleep ``backoff_factor * 2**(n-1)`` seconds before retry ``n``.
    timeout
        Seconds to wait for a connection and for each response.
    status_forcelist
        HTTP statuses that are retried.
    """

    max_retries: int = 3
    backoff_factor: float = 0.5
    timeout: float = 30.0
    status_forcelist: tuple[int, ...] = (500, 502, 503, 504)

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise InvalidInputError(
                f"max_retries={self.max_retries!r} must be an integer >= 0 (0 disables retries)"
            )
        if not _is_number(self.backoff_factor) or self.backoff_factor < 0:
            raise InvalidInputError(
                f"backoff_factor={self.backoff_factor!r} must be a number >= 0 (seconds)"
            )
        if not _is_number(self.timeout) or not self.timeout > 0:
            raise InvalidInputError(f"timeout={self.timeout!r} must be a number of seconds > 0")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _one_line(err: Exception) -> str:
    """An exception's text on one line (the cql2 parser's errors span several lines)."""
    return " ".join(str(err).split())


@dataclass(frozen=True)
class SearchQuery:
    """A normalised item search (what :func:`search` sends)."""

    bbox: tuple[float, float, float, float] | None = None
    datetime: str | None = None
    collections: tuple[str, ...] | None = None
    ids: tuple[str, ...] | None = None
    filter: dict[str, Any] | None = None
    limit: int = 100
    max_items: int | None = None


def normalize_bbox(bbox: BBoxLike | None) -> tuple[float, float, float, float] | None:
    """Return ``(minx, miny, maxx, maxy)`` in degrees from a sequence or ``"a,b,c,d"`` string.

    Raises
    ------
    InvalidInputError
        Wrong length, non-numeric values, min > max, or values outside lon/lat ranges.
    """
    if bbox is None:
        return None
    raw = bbox.replace(" ", "").split(",") if isinstance(bbox, str) else list(bbox)
    if len(raw) != 4:
        raise InvalidInputError(
            f"bbox={bbox!r} has {len(raw)} values; give 4: minx,miny,maxx,maxy in degrees "
            "(e.g. --bbox -84.5,9.5,-83.5,10.5)"
        )
    try:
        minx, miny, maxx, maxy = (float(v) for v in raw)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"bbox={bbox!r} must hold 4 numbers (minx,miny,maxx,maxy)") from err
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidInputError(f"bbox={bbox!r} holds a non-finite value")
    for name, v in (("miny", miny), ("maxy", maxy)):
        if not -90 <= v <= 90:
            raise InvalidInputError(
                f"bbox={bbox!r}: {name}={v} is outside the latitude range -90..90"
            )
    for name, v in (("minx", minx), ("maxx", maxx)):
        if not -180 <= v <= 180:
            raise InvalidInputError(
                f"bbox={bbox!r}: {name}={v} is outside the longitude range -180..180"
            )
    if minx > maxx or miny > maxy:
        raise InvalidInputError(
            f"bbox={bbox!r}: minimum greater than maximum; the order is minx,miny,maxx,maxy"
        )
    return (minx, miny, maxx, maxy)


def _to_datetime(value: str | datetime | date | None, *, end: bool) -> datetime | None:
    if value is None or value in ("", ".."):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        t = (23, 59, 59) if end else (0, 0, 0)
        return datetime(value.year, value.month, value.day, *t, tzinfo=UTC)
    text = str(value).strip()
    try:
        if len(text) == 10:  # a plain date covers the whole day
            return _to_datetime(date.fromisoformat(text), end=end)
        if len(text) == 7:  # YYYY-MM
            y, m = (int(v) for v in text.split("-"))
            if end:
                nxt = date(y + (m == 12), m % 12 + 1, 1)
                return datetime.fromordinal(nxt.toordinal() - 1).replace(
                    hour=23, minute=59, second=59, tzinfo=UTC
                )
            return datetime(y, m, 1, tzinfo=UTC)
        if len(text) == 4:  # YYYY
            return (
                datetime(int(text), 12, 31, 23, 59, 59, tzinfo=UTC)
                if end
                else datetime(int(text), 1, 1, tzinfo=UTC)
            )
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidInputError(
            f"datetime value {value!r} is not ISO 8601; use e.g. 2020-01-01, "
            "2020-01-01T10:00:00Z, 2020-01 or 2020"
        ) from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rfc3339(d: datetime | None) -> str:
    return ".." if d is None else d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_datetime(value: DatetimeLike | None) -> str | None:
    """Return an RFC 3339 interval ``start/end`` (``..`` = open) from flexible input.

    Accepts ``"2020-01-01/2020-03-31"``, ``"2020-06"``, ``"../2019"``, a datetime or date, or a
    ``(start, end)`` pair. A single date expands to its whole day (month, year likewise).

    Raises
    ------
    InvalidInputError
        Unparseable values or a range whose start is after its end.
    """
    if value is None:
        return None
    start_raw: str | datetime | date | None
    end_raw: str | datetime | date | None
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) > 2:
            raise InvalidInputError(f"datetime={value!r} has more than one '/'; use start/end")
        start_raw, end_raw = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    elif isinstance(value, datetime | date):
        start_raw = end_raw = value
    else:
        seq = list(value)
        if len(seq) != 2:
            raise InvalidInputError(f"datetime={value!r} must be one value or a (start, end) pair")
        start_raw, end_raw = seq
    start = _to_datetime(start_raw, end=False)
    end = _to_datetime(end_raw, end=True)
    if isinstance(value, datetime):
        end = start
    if start is None and end is None:
        raise InvalidInputError(f"datetime={value!r} is open at both ends; give a start or an end")
    if start is not None and end is not None and start > end:
        raise InvalidInputError(
            f"datetime={value!r}: start {_rfc3339(start)} is after end {_rfc3339(end)}; "
            "swap them (start/end)"
        )
    return f"{_rfc3339(start)}/{_rfc3339(end)}"


def normalize_filter(value: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a CQL2-JSON filter from CQL2 text (``"eo:cloud_cover < 10"``) or JSON.

    Raises
    ------
    InvalidInputError
        If the expression does not parse.
    """
    if value is None:
        return None
    cql2: Any
    try:
        import cql2
    except ModuleNotFoundError:
        cql2 = None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise InvalidInputError(
                    f"filter={text!r} is not valid CQL2-JSON: {_one_line(err)}"
                ) from err
        else:
            if cql2 is None:
                raise InvalidInputError(
                    "a CQL2 text filter needs the `cql2` package (pip install cql2); or pass "
                    "CQL2-JSON, e.g. {'op': '<', 'args': [{'property': 'eo:cloud_cover'}, 10]}"
                )
            try:
                return dict(cql2.parse_text(text).to_json())
            except Exception as err:
                raise InvalidInputError(
                    f"filter={text!r} is not valid CQL2 text ({_one_line(err)}); example: "
                    "\"eo:cloud_cover < 10 AND platform = 'landsat-8'\""
                ) from err
    if not isinstance(value, dict) or "op" not in value:
        raise InvalidInputError(
            f"filter={value!r} must be CQL2 text or a CQL2-JSON object with an 'op' key"
        )
    if cql2 is not None:
        try:
            cql2.Expr(value).validate()
        except Exception as err:
            raise InvalidInputError(
                f"filter={value!r} is not valid CQL2-JSON ({_one_line(err)})"
            ) from err
    return value


def _names(value: str | Sequence[str] | None, arg: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidInputError(f"{arg}={value!r} must be a non-empty list of strings")
    return tuple(names)


def open_client(
    url: str,
    *,
    retry: RetryPolicy | None = None,
    request_modifier: Callable[[Any], Any] | None = None,
) -> Any:
    """Open a STAC API with pystac-client: retries with backoff, timeouts, clear errors.

    Every request to a STAC API in ecocube goes through the client returned here.

    Parameters
    ----------
    url
        Landing page of the API.
    retry
        Retry/backoff/timeout policy (default :class:`RetryPolicy`).
    request_modifier
        Called on every ``requests.Request`` before it is sent (e.g. to add headers).

    Returns
    -------
    pystac_client.Client
        A client whose landing page conforms to STAC API item search.

    Raises
    ------
    InvalidInputError
        ``url`` is not an http(s) URL.
    StacApiError
        The API is unreachable, answers with an error or too slowly, or ``url`` is not a STAC
        API landing page (a static catalog, a collection, an HTML page, malformed JSON).
    """
    from pystac_client import Client
    from pystac_client.errors import ClientTypeError
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO
    from pystac_client.warnings import NoConformsTo
    from urllib3.util.retry import Retry

    policy = retry or RetryPolicy()
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"url={url!r} must be an http(s) URL of a STAC API landing page")
    retries = Retry(
        total=policy.max_retries,
        connect=policy.max_retries,
        read=0,  # a silent server is not asked again: see RetryPolicy
        status=policy.max_retries,
        backoff_factor=policy.backoff_factor,
        status_forcelist=policy.status_forcelist,
        allowed_methods=None,  # retry POST searches too: they are read-only
        raise_on_status=False,
    )
    io = StacApiIO(timeout=policy.timeout, max_retries=retries, request_modifier=request_modifier)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoConformsTo)  # checked below, with the fix
            client = Client.open(url, stac_io=io, timeout=policy.timeout)
    except APIError as err:
        raise _api_error(url, err, policy, during="open") from err
    except ClientTypeError as err:
        found = re.search(r"found type=(\w+)", str(err))
        kind = f"a STAC {found.group(1)}" if found else "not a STAC catalog"
        raise StacApiError(
            f"{url} is {kind}, not a STAC API landing page; give the root URL of the API "
            f"(for .../collections/ID, the part before /collections)"
        ) from err
    except (json.JSONDecodeError, pystac.STACError, KeyError, TypeError, ValueError) as err:
        raise StacApiError(
            f"{url} did not return a STAC API landing page (malformed or non-STAC JSON: "
            f"{_short(err)}); give the root URL of a STAC API"
        ) from err
    if not client.conforms_to("ITEM_SEARCH"):
        raise StacApiError(
            f"{url} is a static STAC catalog, not a STAC API (it offers no item search); give "
            "the root URL of a STAC API, or read a local catalog folder directly (serve one "
            "with `ecocube catalog serve DIR`)"
        )
    return client


def _api_error(url: str, err: Exception, policy: RetryPolicy, *, during: str) -> StacApiError:
    """One-line :class:`StacApiError` for a failed request: what happened and what to do."""
    status = getattr(err, "status_code", None)
    what = "is unreachable or failed" if during == "open" else "failed the search"
    if isinstance(status, int) and 400 <= status < 500:
        reason = _reason(status)
        detail = _json_detail(str(err))
        fix = (
            "the URL is not a STAC API landing page; give the root URL of the API "
            "(e.g. http://127.0.0.1:7822 for `ecocube catalog serve`)"
            if during == "open"
            else "check the search parameters"
        )
        return StacApiError(f"the STAC API at {url} {what}: HTTP {status} {reason}{detail}; {fix}")
    if isinstance(status, int):
        detail = _json_detail(str(err))
        return StacApiError(
            f"the STAC API at {url} {what}: HTTP {status} {_reason(status)}{detail} after "
            f"{policy.max_retries} retries; try again later or raise --max-retries"
        )
    text = str(err)
    if "timed out" in text.lower() or "timeout" in text.lower():
        return StacApiError(
            f"the STAC API at {url} {what}: no answer within {policy.timeout:g} s (the server "
            "hangs or is overloaded); check the server, or wait longer with --timeout SECONDS "
            "(RetryPolicy(timeout=...))"
        )
    return StacApiError(
        f"the STAC API at {url} {what}: {_short(err)}; check the URL and that the server runs "
        "(`ecocube catalog serve DIR` for the local catalog)"
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _json_detail(body: str) -> str:
    """`` (description)`` from a JSON error body; nothing for HTML or other text."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return ""
    if not isinstance(doc, dict):
        return ""
    for key in ("description", "detail", "message"):
        if isinstance(doc.get(key), str):
            return f" ({' '.join(doc[key].split())[:200]})"
    return ""


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def unknown_collections(
    client: Any, url: str, wanted: Sequence[str], policy: RetryPolicy | None = None
) -> tuple[list[str], list[str]]:
    """The ids of ``wanted`` that the API does not serve, and the ids it serves (sorted).

    Raises
    ------
    StacApiError
        The API fails, answers too slowly or returns malformed collections.
    """
    from pystac_client.exceptions import APIError

    try:
        available = sorted(c.id for c in client.get_collections())
    except APIError as err:
        raise _api_error(url, err, policy or RetryPolicy(), during="search") from err
    except (json.JSONDecodeError, pystac.STACError, KeyError, TypeError) as err:
        raise StacApiError(f"{url} returned malformed collections: {_short(err)}") from err
    return [c for c in wanted if c not in available], available


def item_search(
    client: Any, url: str, query: SearchQuery, policy: RetryPolicy | None = None
) -> pystac.ItemCollection:
    """Run a normalised search (``POST /search``, following ``next`` links) on an open client.

    Raises
    ------
    StacApiError
        The API fails, answers too slowly or returns malformed results.
    """
    from pystac_client.exceptions import APIError

    try:
        result = client.search(
            method="POST",
            bbox=query.bbox,
            datetime=query.datetime,
            collections=list(query.collections) if query.collections else None,
            ids=list(query.ids) if query.ids else None,
            filter=query.filter,
            filter_lang="cql2-json" if query.filter else None,
            limit=query.limit,
            max_items=query.max_items,
        )
        return result.item_collection()
    except APIError as err:
        raise _api_error(url, err, policy or RetryPolicy(), during="search") from err
    except (json.JSONDecodeError, pystac.STACError, KeyError, TypeError) as err:
        raise StacApiError(f"{url} returned malformed search results: {_short(err)}") from err


def search(
    url: str,
    *,
    bbox: BBoxLike | None = None,
    datetime: DatetimeLike | None = None,
    collections: str | Sequence[str] | None = None,
    ids: str | Sequence[str] | None = None,
    filter: str | dict[str, Any] | None = None,
    limit: int = 100,
    max_items: int | None = None,
    retry: RetryPolicy | None = None,
    check_collections: bool = True,
    request_modifier: Callable[[Any], Any] | None = None,
) -> pystac.ItemCollection:
    """Search a STAC API (``POST /search``) and return the matching items.

    Parameters
    ----------
    url
        Landing page of the STAC API, e.g. ``"https://earth-search.aws.element84.com/v1"``.
    bbox
        ``(minx, miny, maxx, maxy)`` in WGS84 degrees, or ``"minx,miny,maxx,maxy"``.
    datetime
        Instant or interval (``"2020-01-01/2020-03-31"``, ``"2020-06"``, ``(start, end)``).
    collections, ids
        Names as a list or comma-separated string. Collections are checked against the API's.
    filter
        CQL2 text (``"eo:cloud_cover < 10"``) or CQL2-JSON dict (FILTER extension).
    limit
        Page size requested from the server (1-10000); pages are followed transparently.
    max_items
        Stop after this many items (``None``: all matches).
    retry
        Retry/backoff/timeout policy (default :class:`RetryPolicy`).
    check_collections
        Ask the API for its collections and reject unknown names before searching.

    Returns
    -------
    pystac.ItemCollection
        The items, in the server's order.

    Raises
    ------
    InvalidInputError
        Invalid bbox, datetime, filter, limit or an unknown collection (valid ones listed).
    StacApiError
        The API is unreachable, answers with an error, or returns malformed JSON.
    """
    if not isinstance(limit, int) or not 1 <= limit <= 10000:
        raise InvalidInputError(f"limit={limit!r} must be an integer within 1-10000")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise InvalidInputError(f"max_items={max_items!r} must be a positive integer or None")
    query = SearchQuery(
        bbox=normalize_bbox(bbox),
        datetime=normalize_datetime(datetime),
        collections=_names(collections, "collections"),
        ids=_names(ids, "ids"),
        filter=normalize_filter(filter),
        limit=limit,
        max_items=max_items,
    )
    client = open_client(url, retry=retry, request_modifier=request_modifier)
    if query.collections and check_collections:
        unknown, available = unknown_collections(client, url, query.collections, retry)
        if unknown:
            raise InvalidInputError(
                f"collections={list(unknown)!r} are not served by {url}; valid collections: "
                f"{', '.join(available)}"
            )
    return item_search(client, url, query, retry)
