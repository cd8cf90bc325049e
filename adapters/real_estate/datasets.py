"""The real-estate registration centre's datasets, as declared to the resource directory.

Resource codes follow the hub's form after the 2017 national catalogue guide: class 3 (department
resources), item 04 (real estate), subitem, detail, then "-" and a six-digit sequence number. Item
names are the standard data elements that the registration database (不动产登记数据库, TD/T 1066)
carries under pinyin-initial column names; docs/adapters/real_estate.md maps each legacy element to
its item.
"""

from __future__ import annotations

from adapters.base import AccessMethod, DataItem, DatasetDeclaration, SharingType, SubjectType

TITLE = "304001001-000001"
PERSONAL = "304002001-000001"
HISTORY = "304002002-000001"
LICENSE_TYPE = "real_estate_title"

# Codes of the ``status`` item (权属状态), the registry's own two-value table; see the docs.
STATUS_CURRENT = "1"  # 现势: the title is in force
STATUS_CANCELLED = "2"  # 注销: a cancellation registration ended it
STATUS_NAMES = {STATUS_CURRENT: "现势", STATUS_CANCELLED: "注销"}

_LEGAL_BASIS = "《不动产登记暂行条例》第二十七条、《不动产登记资料查询暂行办法》"

TITLE_ITEMS: tuple[DataItem, ...] = (
    DataItem("unit_number", "不动产单元号", "string", "GB/T 37346-2019", personal=False),
    DataItem("certificate_no", "不动产权证书号", "string", "TD/T 1066 (BDCQZH)", personal=False),
    DataItem("location", "坐落", "string", "TD/T 1066 (ZL)", personal=False),
    DataItem("use", "规划用途", "string", "GB/T 17986.1 (house use, by name)", personal=False),
    DataItem("area", "建筑面积", "decimal", "TD/T 1066 (JZMJ, m²)", personal=False),
    DataItem("right_type", "权利类型", "string", "TD/T 1066 (QLLX, by name)", personal=False),
    DataItem("co_ownership", "共有方式", "string", "TD/T 1066 (GYFS, by name)", personal=False),
    DataItem(
        "owners",
        "权利人",
        "array",
        "TD/T 1066 (QLRMC, ZJH per GB 11643-1999, QLBL as decimal fraction)",
        personal=True,
        sensitivity="sensitive",
    ),
    DataItem("registered_on", "登记时间", "date", "GB/T 7408 (date)", personal=False),
    DataItem("mortgaged", "是否抵押", "boolean", "TD/T 1066 (DYZT)", personal=False),
    DataItem("mortgagee", "抵押权人", "string", "TD/T 1066 (DYQR)", personal=False),
    DataItem("seized", "是否查封", "boolean", "TD/T 1066 (CFZT)", personal=False),
    DataItem("status", "权属状态", "code", "TD/T 1066 (QSZT): 1 现势, 2 注销", personal=False),
)

PERSONAL_ITEMS: tuple[DataItem, ...] = (
    DataItem("has_property", "名下是否有不动产", "boolean", "hub derived (live titles)", personal=True),
    DataItem("property_count", "名下不动产数量", "integer", "hub derived (live titles)", personal=True),
    DataItem(
        "properties",
        "名下不动产清单",
        "array",
        "GB/T 37346-2019 unit_number; TD/T 1066 BDCQZH, ZL, JZMJ, GHYT, QLBL, DYZT, CFZT",
        personal=True,
        sensitivity="sensitive",
    ),
)

HISTORY_ITEMS: tuple[DataItem, ...] = (
    DataItem(
        "title_count", "登记记录数", "integer", "hub derived (all titles, live and cancelled)", personal=True
    ),
    DataItem("first_registered_on", "首次登记时间", "date", "GB/T 7408 (date)", personal=True),
    DataItem(
        "titles",
        "登记记录清单",
        "array",
        "GB/T 37346-2019 unit_number; TD/T 1066 BDCQZH, ZL, QLBL, DJSJ, QSZT, ZXSJ; GB/T 7408 dates",
        personal=True,
        sensitivity="sensitive",
    ),
)

DATASETS: tuple[DatasetDeclaration, ...] = (
    DatasetDeclaration(
        code=TITLE,
        related=(
            "304002001-000001",
            "304002002-000001",
        ),
        name="不动产登记信息",
        summary=(
            "不动产单元的登记信息：不动产权证书号、坐落、用途、面积、权利类型、权利人及其份额、登记日期、抵押与查封状态，以及现势或注销状态。"
        ),
        items=TITLE_ITEMS,
        subject_types=frozenset({SubjectType.PROPERTY_UNIT}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="real-time",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY, AccessMethod.LICENSE}),
        sharing_conditions=(
            "仅限涉及该不动产单元的审批事项（转移、抵押、住房公积金、购房落户、司法及税务事项），且仅限授权所列信息项。"
        ),
        legal_basis=_LEGAL_BASIS,
        license_type=LICENSE_TYPE,
    ),
    DatasetDeclaration(
        code=PERSONAL,
        related=(
            "304001001-000001",
            "304002002-000001",
        ),
        name="个人名下不动产信息",
        summary=(
            "公民在本市名下现势不动产情况：是否持有、证书数量，以及每项的不动产单元号、证书号、坐落、面积、用途、本人份额和抵押/查封状态。"
        ),
        items=PERSONAL_ITEMS,
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="real-time",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY}),
        sharing_conditions=(
            "仅限取决于公民名下不动产的事项（购房资格、保障性住房及补贴资格、户籍登记、社会救助），须经本人同意或有法定依据。"
        ),
        legal_basis=_LEGAL_BASIS,
    ),
    DatasetDeclaration(
        code=HISTORY,
        related=(
            "304001001-000001",
            "304002001-000001",
        ),
        name="个人不动产登记记录",
        summary=(
            "公民作为登记权利人的全部不动产权记录（现势及注销）：单元、证书、坐落、份额、登记日期、"
            "状态与注销日期。与 304002001 不同，登记簿从未记载为权利人的公民查询结果为不存在。"
        ),
        items=HISTORY_ITEMS,
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="real-time",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY}),
        sharing_conditions=(
            "仅限需要公民不动产持有历史的司法、继承、婚姻财产及税务稽查事项，须有授权所列法定依据。"
        ),
        legal_basis=_LEGAL_BASIS,
    ),
)
