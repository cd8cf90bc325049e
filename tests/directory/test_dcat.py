"""The DCAT-AP 3.0.1 export validates against SEMIC's official SHACL shapes and says what the directory says.

The shapes come from ../shared/standards/dcat-ap-3.0.1/ (the release files, unmodified on disk). CI must
have them; a developer without the folder gets skips.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, FOAF, SKOS

import adapters.household.datasets as household
import adapters.real_estate.datasets as real_estate
import adapters.social_insurance.datasets as social_insurance
import adapters.tax.datasets as tax
from adapters.base import DatasetDeclaration, Department
from adapters.registry import DEPARTMENTS
from directory.dcat import (
    DCAT,
    JSONLD_CONTEXT,
    access_right_for,
    catalog_graph,
    catalog_jsonld,
    catalog_turtle,
    frequency_for,
    language_of,
    standards_cited,
)
from directory.schemas import DataItemRead, Provider, ResourceRead

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT / ".." / "shared" / "standards" / "dcat-ap-3.0.1"
SH = Namespace("http://www.w3.org/ns/shacl#")
DCATAP = Namespace("http://data.europa.eu/r5r/")

BASE = "http://127.0.0.1:8000"
HUB_NAME = "数据共享交换平台 Data Exchange Hub"
MODIFIED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
UPDATED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ACCESS_RIGHT = "http://publications.europa.eu/resource/authority/access-right/"
DECLARATIONS = {
    "household": household.DATASETS,
    "tax": tax.DATASETS,
    "social_insurance": social_insurance.DATASETS,
    "real_estate": real_estate.DATASETS,
}
WITHDRAWN_CODE = "301001001-000099"

# rdflib's own JSON-LD parser still builds a ConjunctiveGraph internally.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


def resource_from(
    declaration: DatasetDeclaration, department: Department, **overrides: object
) -> ResourceRead:
    """What the directory would answer for an adapter's declaration, published on 2026-11-01."""
    fields: dict[str, object] = {
        "code": declaration.code,
        "name": declaration.name,
        "summary": declaration.summary,
        "provider": Provider(id=department.id, name=department.name, uscc=department.uscc),
        "format": "application/jwt",
        "data_items": [
            DataItemRead(
                name=item.name,
                title=item.title,
                type=item.type,
                standard_ref=item.standard_ref,
                personal=item.personal,
                sensitivity=item.sensitivity,
            )
            for item in declaration.items
        ],
        "subject_types": sorted(kind.value for kind in declaration.subject_types),
        "sharing_type": declaration.sharing_type.value,
        "sharing_conditions": declaration.sharing_conditions,
        "access_methods": sorted(method.value for method in declaration.access_methods),
        "update_cycle": declaration.update_cycle,
        "open_attribute": "不予开放",
        "publish_date": date(2026, 11, 1),
        "legal_basis": declaration.legal_basis,
        "related_resources": [],
        "license_type": declaration.license_type,
        "version": 1,
        "updated_at": UPDATED,
        "last_data_update": None,
        "withdrawn": False,
    }
    fields.update(overrides)
    return ResourceRead.model_validate(fields)


def dataset_iri(code: str) -> URIRef:
    return URIRef(f"{BASE}/v1/directory/resources/{code}")


@dataclass(frozen=True)
class Result:
    severity: str
    focus: object
    path: object
    message: str


def _shapes(*names: str) -> Graph:
    """The release's shapes, minus references to property shapes the loaded files never define.

    shacl_dcat-ap-SHACL.ttl names two DataService property shapes (sh:class rdfs:Resource on
    dcat:endpointURL and dcat:endpointDescription) that only shacl_ranges.ttl defines, and every SHACL
    engine refuses such a shapes graph (SEMICeu/DCAT-AP#448); shacl_ranges.ttl in turn names 206 shapes
    of a file the release keeps apart. Dropping a reference without a definition weakens no shape
    that exists; the two rdfs:Resource checks run with shacl_ranges.ttl below.
    """
    graph = Graph()
    for name in names:
        graph.parse(STANDARDS / name)
    for shape, prop in list(graph.subject_objects(SH.property)):
        if graph.value(prop, SH.path) is None:
            graph.remove((shape, SH.property, prop))
    return graph


def _validate(data: Graph, shapes: Graph, inference: str = "none") -> list[Result]:
    """Top-level results only: pyshacl also reports the nested details of sh:node failures."""
    _, report, _ = validate(data, shacl_graph=shapes, inference=inference, allow_warnings=True)
    return [
        Result(
            severity=str(report.value(result, SH.resultSeverity)).rsplit("#", 1)[-1],
            focus=report.value(result, SH.focusNode),
            path=report.value(result, SH.resultPath),
            message=str(report.value(result, SH.resultMessage)),
        )
        for result in report.objects(None, SH.result)
    ]


def _violations(results: list[Result]) -> list[Result]:
    return [result for result in results if result.severity == "Violation"]


# --- fixtures: build once, serialise once, validate once per format ------------------------------------


@pytest.fixture(scope="module")
def standards() -> Path:
    if not (STANDARDS / "shacl_dcat-ap-SHACL.ttl").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the DCAT-AP 3.0.1 shapes are missing at {STANDARDS.resolve()}")
        pytest.skip(f"the DCAT-AP 3.0.1 shapes are not at {STANDARDS.resolve()}")
    return STANDARDS


@pytest.fixture(scope="module")
def resources() -> list[ResourceRead]:
    """Every dataset the four adapters declare, plus one withdrawn resource."""
    live = [
        resource_from(declaration, DEPARTMENTS[department])
        for department, declarations in DECLARATIONS.items()
        for declaration in declarations
    ]
    withdrawn = resource_from(
        household.DATASETS[0],
        DEPARTMENTS["household"],
        code=WITHDRAWN_CODE,
        name="已撤销的资源",
        withdrawn=True,
    )
    return [*live, withdrawn]


@pytest.fixture(scope="module")
def graph(resources: list[ResourceRead]) -> Graph:
    return catalog_graph(
        resources, base_url=BASE, hub_id="exchange-hub", hub_name=HUB_NAME, modified=MODIFIED
    )


@pytest.fixture(scope="module")
def jsonld(graph: Graph) -> dict:
    return catalog_jsonld(graph)


@pytest.fixture(scope="module")
def turtle(graph: Graph) -> str:
    return catalog_turtle(graph)


@pytest.fixture(scope="module")
def parsed(jsonld: dict, turtle: str) -> dict[str, Graph]:
    """Each serialisation read back as a consumer would read it."""
    return {
        "json-ld": Graph().parse(data=json.dumps(jsonld, ensure_ascii=False), format="json-ld"),
        "turtle": Graph().parse(data=turtle, format="turtle"),
    }


@pytest.fixture(scope="module")
def complete_results(standards: Path, parsed: dict[str, Graph]) -> dict[str, list[Result]]:
    shapes = _shapes("shacl_dcat-ap-SHACL.ttl")
    return {name: _validate(data, shapes) for name, data in parsed.items()}


# --- the acceptance check: the official shapes --------------------------------------------------------


@pytest.mark.parametrize("serialisation", ["json-ld", "turtle"])
def test_conforms_to_the_complete_dcat_ap_shapes(complete_results, serialisation):
    results = complete_results[serialisation]
    assert results == [], "\n".join(f"{r.focus} {r.path}: {r.message}" for r in results)


def test_conforms_to_the_range_shapes_under_rdfs(standards, parsed):
    """shacl_ranges.ttl wants endpoint URLs to be rdfs:Resource, which every IRI is under RDFS entailment."""
    assert _validate(parsed["turtle"], _shapes("shacl_ranges.ttl"), inference="rdfs") == []


def test_conforms_to_the_split_shapes_and_their_ranges(standards, parsed):
    assert _validate(parsed["turtle"], _shapes("html_shacl_shapes.ttl", "html_shacl_range.ttl")) == []


def test_controlled_vocabularies_leave_only_the_expected_warning(standards, parsed):
    """Every term is in its EU scheme; the one warning left: our departments are not EU corporate bodies."""
    results = _validate(parsed["turtle"], _shapes("html_shacl_mdr-vocabularies.shape.ttl"))
    assert _violations(results) == []
    assert {r.path for r in results} <= {DCTERMS.publisher}


@pytest.mark.parametrize(
    ("breakage", "path"),
    [
        ("dataset without description", DCTERMS.description),
        ("publisher without name", FOAF.name),
        ("service without endpoint", DCAT.endpointURL),
    ],
)
def test_a_broken_catalogue_fails_the_check(standards, graph, breakage, path):
    broken = Graph()
    for triple in graph:
        broken.add(triple)
    dataset = dataset_iri(household.PERSON_BASIC)
    focus = {
        DCTERMS.description: dataset,
        FOAF.name: URIRef(f"{BASE}/v1/directory/providers/household"),
        DCAT.endpointURL: URIRef(f"{dataset}#service"),
    }[path]
    broken.remove((focus, path, None))

    violations = _violations(_validate(broken, _shapes("shacl_dcat-ap-SHACL.ttl")))

    assert [(v.focus, v.path) for v in violations] == [(focus, path)], breakage


# --- the two serialisations say the same thing -------------------------------------------------------


def test_json_ld_and_turtle_are_the_same_graph(graph, parsed):
    assert isomorphic(parsed["json-ld"], parsed["turtle"])
    assert isomorphic(parsed["turtle"], graph)


def test_json_ld_carries_its_own_compact_context(jsonld):
    assert jsonld["@context"] == JSONLD_CONTEXT
    assert all(value.startswith("http") for value in JSONLD_CONTEXT.values())
    assert any(node.get("@type") == "dcat:Catalog" for node in jsonld["@graph"])


@pytest.mark.parametrize("serialisation", ["json-ld", "turtle"])
def test_chinese_text_survives_the_round_trip(resources, parsed, serialisation):
    data = parsed[serialisation]
    for resource in resources:
        if resource.withdrawn:
            continue
        assert data.value(dataset_iri(resource.code), DCTERMS.title) == Literal(resource.name, lang="zh")
    titles = set(data.objects(URIRef(f"{BASE}/v1/directory/catalog"), DCTERMS.title))
    assert titles == {Literal("数据共享交换平台", lang="zh"), Literal("Data Exchange Hub", lang="en")}


def test_serialisations_keep_chinese_characters_readable(jsonld, turtle):
    assert "常住人口基本信息" in turtle
    assert "常住人口基本信息" in json.dumps(jsonld, ensure_ascii=False)


# --- what the catalogue says ------------------------------------------------------------------------


def test_every_live_resource_is_one_dataset_with_its_publisher(resources, parsed):
    data = parsed["turtle"]
    live = [resource for resource in resources if not resource.withdrawn]
    catalogue = URIRef(f"{BASE}/v1/directory/catalog")
    assert set(data.subjects(RDF.type, DCAT.Dataset)) == {dataset_iri(r.code) for r in live}
    assert set(data.objects(catalogue, DCAT.dataset)) == {dataset_iri(r.code) for r in live}
    for resource in live:
        dataset = dataset_iri(resource.code)
        assert list(data.objects(dataset, DCTERMS.identifier)) == [Literal(resource.code)]
        publisher = data.value(dataset, DCTERMS.publisher)
        assert publisher == URIRef(f"{BASE}/v1/directory/providers/{resource.provider.id}")
        assert data.value(publisher, FOAF.name) == Literal(resource.provider.name, lang="zh")
        assert data.value(publisher, DCTERMS.identifier) == Literal(resource.provider.uscc)
        assert (publisher, RDF.type, FOAF.Agent) in data


def test_withdrawn_resources_are_left_out(parsed):
    data = parsed["turtle"]
    gone = dataset_iri(WITHDRAWN_CODE)
    assert (gone, None, None) not in data and (None, None, gone) not in data
    assert not any(WITHDRAWN_CODE in str(term) for triple in data for term in triple)


def test_shared_resources_get_a_service_and_a_distribution_per_access_method(resources, parsed):
    data = parsed["turtle"]
    for resource in resources:
        if resource.withdrawn or resource.sharing_type == "none":
            continue
        dataset = dataset_iri(resource.code)
        service = URIRef(f"{dataset}#service")
        exchange = {m: URIRef(f"{BASE}/v1/{m}/{resource.code}") for m in ("query", "verify")}
        expected = {exchange[m] for m in resource.access_methods if m in exchange}
        assert set(data.objects(service, DCAT.endpointURL)) == expected
        assert data.value(service, DCAT.servesDataset) == dataset
        assert data.value(service, DCAT.endpointDescription) == URIRef(f"{BASE}/openapi.json")

        distributions = set(data.objects(dataset, DCAT.distribution))
        assert {URIRef(f"{dataset}#{m}") for m in resource.access_methods} == distributions
        for method in resource.access_methods:
            distribution = URIRef(f"{dataset}#{method}")
            if method == "license":
                assert data.value(distribution, DCAT.accessURL) == URIRef(f"{BASE}/v1/licenses/search")
                assert data.value(distribution, DCAT.accessService) == URIRef(
                    f"{BASE}/v1/directory/catalog#license-service"
                )
            else:
                assert data.value(distribution, DCAT.accessURL) == exchange[method]
                assert data.value(distribution, DCAT.accessService) == service
            assert data.value(distribution, DCAT.mediaType) == URIRef(
                "https://www.iana.org/assignments/media-types/application/jwt"
            )


def test_the_license_store_serves_exactly_the_license_datasets(resources, parsed):
    data = parsed["turtle"]
    licensed = {dataset_iri(r.code) for r in resources if "license" in r.access_methods and not r.withdrawn}
    store = URIRef(f"{BASE}/v1/directory/catalog#license-service")
    assert licensed and set(data.objects(store, DCAT.servesDataset)) == licensed


def test_a_resource_not_shared_is_listed_without_any_way_in(parsed):
    """不予共享: catalogued, NON_PUBLIC, and no service or distribution, because the hub answers 403."""
    data = parsed["turtle"]
    photo = dataset_iri(household.PERSON_PHOTO)
    assert (photo, RDF.type, DCAT.Dataset) in data
    assert data.value(photo, DCTERMS.accessRights) == URIRef(ACCESS_RIGHT + "NON_PUBLIC")
    assert data.value(photo, DCTERMS.description) is not None
    assert list(data.objects(photo, DCAT.distribution)) == []
    assert list(data.subjects(DCAT.servesDataset, photo)) == []
    assert not any(household.PERSON_PHOTO in str(o) for o in data.objects(None, DCAT.endpointURL))
    rights = data.value(photo, DCTERMS.rights)
    assert Literal("不予共享", lang="zh") in set(data.objects(rights, RDFS.label))


def test_access_rights_follow_sharing_type_and_openness(parsed):
    data = parsed["turtle"]
    # every declared resource is 不予开放 in this directory: shared ones are RESTRICTED, never PUBLIC
    employer = dataset_iri(social_insurance.EMPLOYER)  # 无条件共享
    person = dataset_iri(household.PERSON_BASIC)  # 有条件共享
    assert data.value(employer, DCTERMS.accessRights) == URIRef(ACCESS_RIGHT + "RESTRICTED")
    assert data.value(person, DCTERMS.accessRights) == URIRef(ACCESS_RIGHT + "RESTRICTED")
    assert (None, DCTERMS.accessRights, URIRef(ACCESS_RIGHT + "PUBLIC")) not in data


def test_conditions_and_legal_basis_travel_with_the_rights_statement(parsed):
    data = parsed["turtle"]
    rights = data.value(dataset_iri(household.PERSON_BASIC), DCTERMS.rights)
    descriptions = {str(d) for d in data.objects(rights, DCTERMS.description)}
    assert household.DATASETS[0].sharing_conditions in descriptions
    assert household.DATASETS[0].legal_basis in descriptions
    assert Literal("有条件共享", lang="zh") in set(data.objects(rights, RDFS.label))


def test_vocabulary_terms_are_the_eu_ones(parsed):
    data = parsed["turtle"]
    person = dataset_iri(household.PERSON_BASIC)
    frequency = "http://publications.europa.eu/resource/authority/frequency/"
    assert data.value(person, DCTERMS.accrualPeriodicity) == URIRef(frequency + "UPDATE_CONT")
    assert data.value(dataset_iri(tax.REGISTRATION), DCTERMS.accrualPeriodicity) == URIRef(
        frequency + "DAILY"
    )
    assert data.value(dataset_iri(social_insurance.EMPLOYER), DCTERMS.accrualPeriodicity) == URIRef(
        frequency + "MONTHLY"
    )
    theme = "http://publications.europa.eu/resource/authority/data-theme/"
    assert data.value(person, DCAT.theme) == URIRef(theme + "SOCI")
    assert data.value(dataset_iri(real_estate.TITLE), DCAT.theme) == URIRef(theme + "REGI")
    publisher_type = data.value(URIRef(f"{BASE}/v1/directory/providers/tax"), DCTERMS.type)
    assert publisher_type == URIRef("http://purl.org/adms/publishertype/NationalAuthority")
    assert (publisher_type, SKOS.inScheme, URIRef("http://purl.org/adms/publishertype/1.0")) in data


def test_data_item_standards_become_conforms_to(parsed):
    data = parsed["turtle"]
    cited = {
        str(data.value(s, DCTERMS.identifier))
        for s in data.objects(dataset_iri(household.PERSON_BASIC), DCTERMS.conformsTo)
    }
    assert {"GB/T 2261.1", "GB/T 3304", "GB/T 4761", "GA/T 543", "GB/T 7408", "GB/T 2260"} == cited


def test_texts_are_tagged_with_the_language_they_are_written_in(parsed):
    data = parsed["turtle"]
    assert data.value(dataset_iri(tax.REGISTRATION), DCTERMS.description).language == "zh"
    english = resource_from(
        tax.DATASETS[0], DEPARTMENTS["tax"], summary="Taxpayer registration held by the municipal tax bureau."
    )
    graph = catalog_graph([english], base_url=BASE, hub_id="h", hub_name="平台", modified=MODIFIED)
    assert graph.value(dataset_iri(english.code), DCTERMS.description).language == "en"
    assert graph.value(dataset_iri(english.code), DCTERMS.title).language == "zh"


def test_dates_are_typed_and_modified_is_the_latest_change():
    department = DEPARTMENTS["household"]
    later = UPDATED + timedelta(days=3)
    naive = datetime(2026, 11, 22, 10, 0)
    resources = [
        resource_from(household.DATASETS[0], department, last_data_update=later),
        resource_from(household.DATASETS[1], department, updated_at=naive),
    ]
    data = catalog_graph(resources, base_url=BASE, hub_id="h", hub_name="平台", modified=MODIFIED)
    first, second = (dataset_iri(r.code) for r in resources)
    assert data.value(first, DCTERMS.modified) == Literal(later)
    assert data.value(second, DCTERMS.modified) == Literal(naive.replace(tzinfo=UTC))
    assert data.value(first, DCTERMS.issued) == Literal(date(2026, 11, 1))


def test_a_trailing_slash_in_the_public_url_changes_nothing(resources, graph):
    again = catalog_graph(
        resources, base_url=BASE + "/", hub_id="exchange-hub", hub_name=HUB_NAME, modified=MODIFIED
    )
    assert isomorphic(again, graph)


def test_a_code_listed_twice_is_refused(resources):
    with pytest.raises(ValueError, match="301001001-000001"):
        catalog_graph(
            [resources[0], resources[0]], base_url=BASE, hub_id="h", hub_name="平台", modified=MODIFIED
        )


# --- the mappings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cycle", "code"),
    [
        ("real-time", "UPDATE_CONT"),
        ("实时", "UPDATE_CONT"),
        ("daily", "DAILY"),
        ("Weekly", "WEEKLY"),
        ("monthly", "MONTHLY"),
        ("每季度", "QUARTERLY"),
        ("annual", "ANNUAL"),
        ("irregular", "IRREG"),
        ("fortnightly-ish", "UNKNOWN"),
    ],
)
def test_update_cycles_map_to_eu_frequencies(cycle, code):
    assert frequency_for(cycle) == code


@pytest.mark.parametrize(
    ("sharing", "openness", "code"),
    [
        ("unconditional", "无条件开放", "PUBLIC"),
        ("unconditional", "不予开放", "RESTRICTED"),
        ("conditional", "无条件开放", "RESTRICTED"),
        ("conditional", "不予开放", "RESTRICTED"),
        ("none", "无条件开放", "NON_PUBLIC"),
    ],
)
def test_access_rights_mapping(sharing, openness, code):
    assert access_right_for(sharing, openness) == code


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("常住人口基本信息", "zh"),
        ("不动产单元号（GB/T 37346-2019）", "zh"),
        ("Tax-paid certificates (税收完税证明): every valid, non-voided tax receipt.", "en"),
        ("Municipal Tax Bureau", "en"),
    ],
)
def test_language_of(text, language):
    assert language_of(text) == language


def test_standards_cited_skips_references_that_are_not_standards():
    items = [
        DataItemRead(
            name="a", title="甲", type="code", standard_ref=ref, personal=False, sensitivity="normal"
        )
        for ref in ("GB 11643-1999", "AAC003 (national SI data element)", "TD/T 1066 (ZL)", "GB 11643-1999")
    ]
    assert standards_cited(items) == ["GB 11643-1999", "TD/T 1066"]
