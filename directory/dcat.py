"""The resource directory as a DCAT-AP 3.0.1 catalogue (``GET /v1/directory/catalog``).

Implements the DCAT Application Profile for data portals in Europe, version 3.0.1 (SEMIC,
https://semiceu.github.io/DCAT-AP/releases/3.0.1/), on W3C DCAT 3. The hub is one ``dcat:Catalog``;
each resource that is not withdrawn is a ``dcat:Dataset`` published by its department. A shared
resource (无条件共享 / 有条件共享) also gets a ``dcat:DataService`` for its exchange endpoints and one
``dcat:Distribution`` per access method; a 不予共享 resource is listed with access rights NON_PUBLIC and
no service or distribution, because the hub answers every request for it with 403. The mapping and its
reasons are in docs/dcat.md.

DCAT-AP's SHACL shapes check the class of every range (``sh:class dct:Frequency`` …), so the graph
carries a minimal description (type, label, scheme) of each controlled-vocabulary term it uses:
the export validates on its own, offline.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, SKOS

from directory.schemas import DataItemRead, ResourceRead

ADMS = Namespace("http://www.w3.org/ns/adms#")
# DCAT 3 (rdflib's closed DCAT namespace is DCAT 2 and lacks dcat:version).
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
LOCN = Namespace("http://www.w3.org/ns/locn#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")

MEDIA_TYPE_JSONLD = "application/ld+json"
MEDIA_TYPE_TURTLE = "text/turtle"

# Our own compact context: prefixes only, so every consumer's JSON-LD processor expands it the same
# way and nothing is fetched from the network.
JSONLD_CONTEXT: dict[str, str] = {
    "adms": str(ADMS),
    "dcat": str(DCAT),
    "dcatap": str(DCATAP),
    "dct": str(DCTERMS),
    "foaf": str(FOAF),
    "locn": str(LOCN),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "skos": str(SKOS),
    "vcard": str(VCARD),
    "xsd": str(XSD),
}

_AUTHORITY = "http://publications.europa.eu/resource/authority/"
FREQUENCY_SCHEME = URIRef(_AUTHORITY + "frequency")
ACCESS_RIGHT_SCHEME = URIRef(_AUTHORITY + "access-right")
DATA_THEME_SCHEME = URIRef(_AUTHORITY + "data-theme")
LANGUAGE_SCHEME = URIRef(_AUTHORITY + "language")
AVAILABILITY_SCHEME = URIRef(_AUTHORITY + "planned-availability")
PUBLISHER_TYPE_SCHEME = URIRef("http://purl.org/adms/publishertype/1.0")

_SCHEME_TITLES = {
    FREQUENCY_SCHEME: "Frequency",
    ACCESS_RIGHT_SCHEME: "Access right",
    DATA_THEME_SCHEME: "Data theme",
    LANGUAGE_SCHEME: "Language",
    AVAILABILITY_SCHEME: "Planned availability",
    PUBLISHER_TYPE_SCHEME: "Publisher type",
}

# EU Vocabularies "Frequency" authority table: code -> English label.
FREQUENCIES: dict[str, str] = {
    "UPDATE_CONT": "continuously updated",
    "HOURLY": "hourly",
    "DAILY": "daily",
    "WEEKLY": "weekly",
    "MONTHLY": "monthly",
    "QUARTERLY": "quarterly",
    "ANNUAL_2": "semiannual",
    "ANNUAL": "annual",
    "IRREG": "irregular",
    "UNKNOWN": "unknown",
}

# The directory's update cycle (2017 national catalogue guide: 更新周期) -> frequency code. "real-time"
# means the hub reads the legacy system at request time: the data are continuously updated.
UPDATE_CYCLES: dict[str, str] = {
    "real-time": "UPDATE_CONT",
    "realtime": "UPDATE_CONT",
    "实时": "UPDATE_CONT",
    "hourly": "HOURLY",
    "每小时": "HOURLY",
    "daily": "DAILY",
    "每日": "DAILY",
    "每天": "DAILY",
    "weekly": "WEEKLY",
    "每周": "WEEKLY",
    "monthly": "MONTHLY",
    "每月": "MONTHLY",
    "quarterly": "QUARTERLY",
    "每季度": "QUARTERLY",
    "semiannual": "ANNUAL_2",
    "half-yearly": "ANNUAL_2",
    "每半年": "ANNUAL_2",
    "annual": "ANNUAL",
    "yearly": "ANNUAL",
    "每年": "ANNUAL",
    "irregular": "IRREG",
    "不定期": "IRREG",
}

# EU Vocabularies "Access right" authority table.
ACCESS_RIGHTS: dict[str, str] = {"PUBLIC": "public", "RESTRICTED": "restricted", "NON_PUBLIC": "non-public"}

# The open attribute (开放属性) under which a dataset is open to everyone, not only to the hub's consumers.
OPEN_TO_THE_PUBLIC = frozenset({"无条件开放"})

# EU Vocabularies "Data theme" authority table.
DATA_THEMES: dict[str, str] = {
    "ECON": "Economy and finance",
    "GOVE": "Government and public sector",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
}

# ADMS publisher types (http://purl.org/adms/publishertype/1.0).
PUBLISHER_TYPES: dict[str, str] = {
    "LocalAuthority": "Local authority",
    "NationalAuthority": "National authority",
}


@dataclass(frozen=True, slots=True)
class _Profile:
    """How the catalogue describes one provider department (its ADMS type and EU data themes)."""

    publisher_type: str
    themes: tuple[str, ...]


# The tax bureau (国家税务总局某市税务局) is a branch of the State Taxation Administration under vertical
# management, hence a national authority; the other departments belong to the city government.
PROVIDER_PROFILES: dict[str, _Profile] = {
    "household": _Profile("LocalAuthority", ("SOCI",)),
    "tax": _Profile("NationalAuthority", ("ECON",)),
    "social_insurance": _Profile("LocalAuthority", ("SOCI",)),
    "real_estate": _Profile("LocalAuthority", ("REGI",)),
}
_DEFAULT_PROFILE = _Profile("LocalAuthority", ("GOVE",))

_JWT = URIRef("https://www.iana.org/assignments/media-types/application/jwt")
_PROTOCOL_STANDARDS = {
    URIRef("https://www.rfc-editor.org/rfc/rfc7515"): "JSON Web Signature (JWS), RFC 7515",
    URIRef("https://www.rfc-editor.org/rfc/rfc7519"): "JSON Web Token (JWT), RFC 7519",
}

_SHARING_LABELS = {
    "unconditional": ("无条件共享", "unconditional sharing"),
    "conditional": ("有条件共享", "conditional sharing"),
    "none": ("不予共享", "not shared"),
}
_METHOD_KEYWORDS = {"query": "签名查询", "verify": "签名核验", "license": "电子证照"}
_SUBJECT_LABELS = {
    "id_card": "公民身份号码（GB 11643-1999）",
    "uscc": "统一社会信用代码（GB 32100-2015）",
    "property_unit": "不动产单元号（GB/T 37346）",
}
# Chinese national and sector standard numbers as data items cite them ("GB/T 2261.1", "GA/T 543",
# "GB 11643-1999", "TD/T 1066"); other references (code tables, ministry dictionaries) are not standards.
_STANDARD = re.compile(r"\b(?:GB/T|GB/Z|GB|GA/T|GA|TD/T)\s*\d+(?:\.\d+)*(?:-\d{4})?\b")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_BILINGUAL = re.compile(r"^(?P<zh>[^A-Za-z]*[\u3400-\u9fff][^A-Za-z]*?)\s+(?P<en>[A-Za-z][^\u3400-\u9fff]*)$")


def frequency_for(update_cycle: str) -> str:
    """The EU frequency code of a directory update cycle; UNKNOWN rather than a guess."""
    return UPDATE_CYCLES.get(update_cycle.strip().lower(), "UNKNOWN")


def access_right_for(sharing_type: str, open_attribute: str) -> str:
    """The EU access-right code of a resource.

    PUBLIC means "publicly accessible by everyone": only a resource that is shared unconditionally and
    also open to the public qualifies. Unconditional sharing alone still needs a hub-certified consumer
    and a signed request, so it is RESTRICTED like conditional sharing; 不予共享 is NON_PUBLIC.
    """
    if sharing_type == "none":
        return "NON_PUBLIC"
    if sharing_type == "unconditional" and open_attribute.strip() in OPEN_TO_THE_PUBLIC:
        return "PUBLIC"
    return "RESTRICTED"


def language_of(text: str) -> str:
    """``zh`` or ``en``: the directory holds both, and a wrong language tag misleads search and display."""
    cjk = len(_CJK.findall(text))
    return "zh" if cjk and cjk * 3 >= len(_LATIN.findall(text)) else "en"


def standards_cited(items: Iterable[DataItemRead]) -> list[str]:
    """The Chinese standard numbers the data items cite, in first-seen order."""
    found: dict[str, None] = {}
    for item in items:
        for match in _STANDARD.finditer(item.standard_ref):
            found.setdefault(re.sub(r"\s+", " ", match.group(0)), None)
    return list(found)


def catalog_graph(
    resources: Iterable[ResourceRead],
    *,
    base_url: str,
    hub_id: str,
    hub_name: str,
    modified: datetime,
    operator_name: str | None = None,
) -> Graph:
    """The directory as an RDF graph that conforms to DCAT-AP 3.0.1.

    ``base_url`` is the hub's public URL (``Settings.base_url``); it names every resource. Withdrawn
    resources are left out. ``operator_name`` names the catalogue's publisher (the organisation that
    runs the hub); without it the hub's name stands for it. Raises ``ValueError`` when two live
    resources share a code.
    """
    live = [resource for resource in resources if not resource.withdrawn]
    duplicates = sorted(code for code, n in Counter(r.code for r in live).items() if n > 1)
    if duplicates:
        raise ValueError(f"resource code(s) listed twice: {', '.join(duplicates)}")

    builder = _Builder(base_url.rstrip("/"))
    builder.catalog(hub_id=hub_id, hub_name=hub_name, modified=modified, operator_name=operator_name)
    for resource in sorted(live, key=lambda r: r.code):
        builder.dataset(resource)
    return builder.graph


def catalog_jsonld(graph: Graph) -> dict[str, Any]:
    """The graph as compacted JSON-LD under :data:`JSONLD_CONTEXT` (``application/ld+json``)."""
    text = graph.serialize(format="json-ld", context=JSONLD_CONTEXT, auto_compact=True)
    document: dict[str, Any] = json.loads(text)
    return document


def catalog_turtle(graph: Graph) -> str:
    """The graph as Turtle (``text/turtle``)."""
    return graph.serialize(format="turtle")


class _Builder:
    """Adds the catalogue's nodes to one graph; IRIs all derive from the hub's public URL."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.graph = Graph()
        for prefix, namespace in JSONLD_CONTEXT.items():
            self.graph.bind(prefix, namespace)
        self.catalog_iri = URIRef(f"{base_url}/v1/directory/catalog")
        self.operator = URIRef(f"{self.catalog_iri}#publisher")
        self.license_service = URIRef(f"{self.catalog_iri}#license-service")
        self._described: set[URIRef] = set()

    # --- the catalogue -------------------------------------------------------------------------------

    def catalog(self, *, hub_id: str, hub_name: str, modified: datetime, operator_name: str | None) -> None:
        g, catalog = self.graph, self.catalog_iri
        g.add((catalog, RDF.type, DCAT.Catalog))
        g.add((catalog, DCTERMS.identifier, Literal(hub_id)))
        for title in _texts(hub_name):
            g.add((catalog, DCTERMS.title, title))
        g.add(
            (
                catalog,
                DCTERMS.description,
                Literal(
                    "数据共享交换平台的政务信息资源目录：各部门经平台共享的数据资源、共享类型与访问方式。",
                    lang="zh",
                ),
            )
        )
        g.add(
            (
                catalog,
                DCTERMS.description,
                Literal(
                    "The resource directory of the data exchange hub: the datasets government departments "
                    "share through the hub, their sharing class and how approval systems access them.",
                    lang="en",
                ),
            )
        )
        g.add((catalog, DCTERMS.modified, Literal(_utc(modified))))
        for code in ("ZHO", "ENG"):
            g.add((catalog, DCTERMS.language, self._language(code)))
        g.add((catalog, DCAT.themeTaxonomy, self._scheme(DATA_THEME_SCHEME)))
        homepage = URIRef(f"{self.base}/")
        g.add((catalog, FOAF.homepage, homepage))
        g.add((homepage, RDF.type, FOAF.Document))

        g.add((catalog, DCTERMS.publisher, self.operator))
        g.add((self.operator, RDF.type, FOAF.Agent))
        g.add((self.operator, RDF.type, FOAF.Organization))
        for name in _texts(operator_name or hub_name):
            g.add((self.operator, FOAF.name, name))
        g.add((self.operator, DCTERMS.type, self._publisher_type("LocalAuthority")))

    # --- one resource --------------------------------------------------------------------------------

    def dataset(self, resource: ResourceRead) -> None:
        g = self.graph
        dataset = URIRef(f"{self.base}/v1/directory/resources/{resource.code}")
        g.add((self.catalog_iri, DCAT.dataset, dataset))
        g.add((dataset, RDF.type, DCAT.Dataset))
        g.add((dataset, DCTERMS.identifier, Literal(resource.code)))
        g.add((dataset, DCTERMS.title, Literal(resource.name, lang=language_of(resource.name))))
        g.add((dataset, DCTERMS.description, Literal(resource.summary, lang=language_of(resource.summary))))
        g.add((dataset, DCTERMS.publisher, self._provider(resource)))
        g.add((dataset, DCTERMS.issued, Literal(resource.publish_date, datatype=XSD.date)))
        changes = [resource.updated_at, *([resource.last_data_update] if resource.last_data_update else [])]
        g.add((dataset, DCTERMS.modified, Literal(max(_utc(when) for when in changes))))
        g.add((dataset, DCTERMS.accrualPeriodicity, self._frequency(frequency_for(resource.update_cycle))))
        access = self._access_right(access_right_for(resource.sharing_type, resource.open_attribute))
        g.add((dataset, DCTERMS.accessRights, access))
        g.add((dataset, DCTERMS.rights, self._rights(dataset, resource)))
        g.add((dataset, DCTERMS.language, self._language("ZHO")))
        g.add((dataset, DCAT.version, Literal(str(resource.version))))
        for theme in PROVIDER_PROFILES.get(resource.provider.id, _DEFAULT_PROFILE).themes:
            g.add((dataset, DCAT.theme, self._theme(theme)))
        for keyword in dict.fromkeys([resource.name, *(item.title for item in resource.data_items)]):
            g.add((dataset, DCAT.keyword, Literal(keyword, lang=language_of(keyword))))
        for number in standards_cited(resource.data_items):
            g.add((dataset, DCTERMS.conformsTo, self._standard(number)))
        for code in resource.related_resources:
            g.add((dataset, DCTERMS.relation, URIRef(f"{self.base}/v1/directory/resources/{code}")))

        if resource.sharing_type == "none":
            return  # listed, but the hub serves it to nobody: no service, no distribution
        methods = set(resource.access_methods)
        endpoints = [
            (method, URIRef(f"{self.base}/v1/{method}/{resource.code}"))
            for method in ("query", "verify")
            if method in methods
        ]
        if endpoints:
            service = URIRef(f"{dataset}#service")
            self._exchange_service(service, dataset, resource, access, endpoints)
            for method, endpoint in endpoints:
                self._distribution(dataset, resource, method, endpoint, service)
        if "license" in methods:
            self._license_service(dataset)
            endpoint = URIRef(f"{self.base}/v1/licenses/search")
            self._distribution(dataset, resource, "license", endpoint, self.license_service)

    def _exchange_service(
        self,
        service: URIRef,
        dataset: URIRef,
        resource: ResourceRead,
        access: URIRef,
        endpoints: Sequence[tuple[str, URIRef]],
    ) -> None:
        g = self.graph
        g.add((self.catalog_iri, DCAT.service, service))
        g.add((service, RDF.type, DCAT.DataService))
        g.add((service, DCTERMS.title, Literal(f"{resource.name}：数据共享交换服务", lang="zh")))
        methods = "、".join("签名查询" if method == "query" else "签名核验" for method, _ in endpoints)
        g.add(
            (
                service,
                DCTERMS.description,
                Literal(f"经数据共享交换平台{methods}“{resource.name}”，应答由提供部门签名。", lang="zh"),
            )
        )
        for _, endpoint in endpoints:
            g.add((service, DCAT.endpointURL, endpoint))
        g.add((service, DCAT.endpointDescription, URIRef(f"{self.base}/openapi.json")))
        g.add((service, DCAT.servesDataset, dataset))
        g.add((service, DCTERMS.accessRights, access))
        g.add((service, DCTERMS.publisher, self.operator))
        for standard in _PROTOCOL_STANDARDS:
            g.add((service, DCTERMS.conformsTo, self._protocol_standard(standard)))
        for theme in PROVIDER_PROFILES.get(resource.provider.id, _DEFAULT_PROFILE).themes:
            g.add((service, DCAT.theme, self._theme(theme)))
        for keyword in (resource.name, *(_METHOD_KEYWORDS[method] for method, _ in endpoints)):
            g.add((service, DCAT.keyword, Literal(keyword, lang=language_of(keyword))))

    def _license_service(self, dataset: URIRef) -> None:
        """The hub's one e-license store: a service shared by every dataset issued as licenses."""
        g, service = self.graph, self.license_service
        g.add((service, DCAT.servesDataset, dataset))
        if service in self._described:
            return
        self._described.add(service)
        g.add((self.catalog_iri, DCAT.service, service))
        g.add((service, RDF.type, DCAT.DataService))
        g.add((service, DCTERMS.title, Literal("电子证照库", lang="zh")))
        g.add((service, DCTERMS.title, Literal("E-license store", lang="en")))
        g.add(
            (
                service,
                DCTERMS.description,
                Literal(
                    "按持证主体检索各部门签发的电子证照（SD-JWT VC，dc+sd-jwt），"
                    "须经授权，每次检索均记入审计日志。",
                    lang="zh",
                ),
            )
        )
        g.add((service, DCAT.endpointURL, URIRef(f"{self.base}/v1/licenses/search")))
        g.add((service, DCAT.endpointDescription, URIRef(f"{self.base}/openapi.json")))
        g.add((service, DCTERMS.accessRights, self._access_right("RESTRICTED")))
        g.add((service, DCTERMS.publisher, self.operator))
        for standard in _PROTOCOL_STANDARDS:
            g.add((service, DCTERMS.conformsTo, self._protocol_standard(standard)))
        g.add((service, DCAT.theme, self._theme("GOVE")))
        g.add((service, DCAT.keyword, Literal(_METHOD_KEYWORDS["license"], lang="zh")))

    def _distribution(
        self, dataset: URIRef, resource: ResourceRead, method: str, endpoint: URIRef, service: URIRef
    ) -> None:
        g = self.graph
        distribution = URIRef(f"{dataset}#{method}")
        g.add((dataset, DCAT.distribution, distribution))
        g.add((distribution, RDF.type, DCAT.Distribution))
        title, description = _distribution_text(resource, method, str(endpoint))
        g.add((distribution, DCTERMS.title, Literal(title, lang="zh")))
        g.add((distribution, DCTERMS.description, Literal(description, lang="zh")))
        g.add((distribution, DCAT.accessURL, endpoint))
        g.add((distribution, DCAT.accessService, service))
        g.add((distribution, DCAT.mediaType, _JWT))
        g.add((_JWT, RDF.type, DCTERMS.MediaType))
        g.add((_JWT, RDFS.label, Literal("application/jwt")))
        g.add((distribution, DCTERMS.rights, URIRef(f"{dataset}#rights")))
        # The exchange API is the design brief's contract: integrators may rely on it staying.
        g.add((distribution, DCATAP.availability, self._availability("STABLE")))

    def _rights(self, dataset: URIRef, resource: ResourceRead) -> URIRef:
        """The sharing class, its conditions and legal basis, which the EU access rights cannot carry."""
        g, rights = self.graph, URIRef(f"{dataset}#rights")
        g.add((rights, RDF.type, DCTERMS.RightsStatement))
        zh, en = _SHARING_LABELS[resource.sharing_type]
        g.add((rights, RDFS.label, Literal(zh, lang="zh")))
        g.add((rights, RDFS.label, Literal(en, lang="en")))
        for text in (resource.sharing_conditions, resource.legal_basis):
            if text.strip():
                g.add((rights, DCTERMS.description, Literal(text.strip(), lang=language_of(text))))
        return rights

    def _provider(self, resource: ResourceRead) -> URIRef:
        provider = resource.provider
        agent = URIRef(f"{self.base}/v1/directory/providers/{provider.id}")
        if agent not in self._described:
            self._described.add(agent)
            g = self.graph
            g.add((agent, RDF.type, FOAF.Agent))
            g.add((agent, RDF.type, FOAF.Organization))
            g.add((agent, FOAF.name, Literal(provider.name, lang=language_of(provider.name))))
            g.add((agent, DCTERMS.identifier, Literal(provider.uscc)))
            profile = PROVIDER_PROFILES.get(provider.id, _DEFAULT_PROFILE)
            g.add((agent, DCTERMS.type, self._publisher_type(profile.publisher_type)))
        return agent

    # --- vocabulary terms: described once, as DCAT-AP's range checks need ----------------------------

    def _concept(self, term: URIRef, label: str, scheme: URIRef, *classes: URIRef) -> URIRef:
        if term not in self._described:
            self._described.add(term)
            g = self.graph
            g.add((term, RDF.type, SKOS.Concept))
            for cls in classes:
                g.add((term, RDF.type, cls))
            g.add((term, SKOS.prefLabel, Literal(label, lang="en")))
            g.add((term, SKOS.inScheme, self._scheme(scheme)))
        return term

    def _scheme(self, scheme: URIRef) -> URIRef:
        if scheme not in self._described:
            self._described.add(scheme)
            self.graph.add((scheme, RDF.type, SKOS.ConceptScheme))
            self.graph.add((scheme, DCTERMS.title, Literal(_SCHEME_TITLES[scheme], lang="en")))
        return scheme

    def _frequency(self, code: str) -> URIRef:
        term = URIRef(f"{FREQUENCY_SCHEME}/{code}")
        return self._concept(term, FREQUENCIES[code], FREQUENCY_SCHEME, DCTERMS.Frequency)

    def _access_right(self, code: str) -> URIRef:
        term = URIRef(f"{ACCESS_RIGHT_SCHEME}/{code}")
        return self._concept(term, ACCESS_RIGHTS[code], ACCESS_RIGHT_SCHEME, DCTERMS.RightsStatement)

    def _theme(self, code: str) -> URIRef:
        return self._concept(URIRef(f"{DATA_THEME_SCHEME}/{code}"), DATA_THEMES[code], DATA_THEME_SCHEME)

    def _language(self, code: str) -> URIRef:
        label = {"ZHO": "Chinese", "ENG": "English"}[code]
        term = URIRef(f"{LANGUAGE_SCHEME}/{code}")
        return self._concept(term, label, LANGUAGE_SCHEME, DCTERMS.LinguisticSystem)

    def _availability(self, code: str) -> URIRef:
        term = URIRef(f"{AVAILABILITY_SCHEME}/{code}")
        return self._concept(term, code.lower(), AVAILABILITY_SCHEME)

    def _publisher_type(self, code: str) -> URIRef:
        term = URIRef(f"http://purl.org/adms/publishertype/{code}")
        return self._concept(term, PUBLISHER_TYPES[code], PUBLISHER_TYPE_SCHEME)

    def _standard(self, number: str) -> URIRef:
        """A Chinese standard has no public IRI; it is named inside the catalogue document."""
        term = URIRef(f"{self.catalog_iri}#standard-{re.sub(r'[/ ]+', '-', number)}")
        if term not in self._described:
            self._described.add(term)
            self.graph.add((term, RDF.type, DCTERMS.Standard))
            self.graph.add((term, DCTERMS.identifier, Literal(number)))
            self.graph.add((term, DCTERMS.title, Literal(number)))
        return term

    def _protocol_standard(self, term: URIRef) -> URIRef:
        if term not in self._described:
            self._described.add(term)
            self.graph.add((term, RDF.type, DCTERMS.Standard))
            self.graph.add((term, DCTERMS.title, Literal(_PROTOCOL_STANDARDS[term], lang="en")))
        return term


def _distribution_text(resource: ResourceRead, method: str, endpoint: str) -> tuple[str, str]:
    """Title and description of one access method: what to send, what comes back, which items."""
    subjects = "、".join(_SUBJECT_LABELS.get(kind, kind) for kind in resource.subject_types)
    items = "、".join(f"{item.name}（{item.title}）" for item in resource.data_items)
    if method == "query":
        return (
            f"{resource.name}：签名查询",
            f"POST {endpoint}，请求体为消费方签名的 JWT（application/jwt），按{subjects}查询所列数据项；"
            f"应答为提供部门签名的证据 JWS，只含已授权且被请求的数据项。数据项：{items}。",
        )
    if method == "verify":
        return (
            f"{resource.name}：签名核验",
            f"POST {endpoint}，请求体为消费方签名的 JWT（application/jwt），按{subjects}核验申报值；"
            f"应答为提供部门签名的证据 JWS，逐项给出 match / mismatch / unknown，不披露数据值。"
            f"可核验数据项：{items}。",
        )
    return (
        f"{resource.name}：电子证照",
        f"POST {endpoint}，以签名请求按持证主体的{subjects}检索证照类型 {resource.license_type or ''} "
        f"的电子证照；应答为签名的证照列表，每份证照为签发部门签章的 SD-JWT VC。",
    )


def _texts(text: str) -> list[Literal]:
    """A name such as "数据共享交换平台 Data Exchange Hub" as one literal per language."""
    match = _BILINGUAL.match(text.strip())
    if match:
        return [Literal(match["zh"].strip(), lang="zh"), Literal(match["en"].strip(), lang="en")]
    return [Literal(text.strip(), lang=language_of(text))]


def _utc(when: datetime) -> datetime:
    """Naive datetimes are UTC in the hub's database; say so in the export."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
