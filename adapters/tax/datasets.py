"""The tax bureau's datasets in the resource directory (class 3, item 02 = tax).

Code tables the adapter maps the collection system's legacy codes onto (documented in
docs/adapters/tax.md):

- ``taxpayer_kind`` (纳税人类型): ``1`` 单位纳税人, ``2`` 个体工商户, ``3`` 自然人;
- ``status`` (纳税人状态): ``1`` 正常, ``2`` 停业, ``3`` 非正常, ``4`` 注销.
"""

from __future__ import annotations

from adapters.base import AccessMethod, DataItem, DatasetDeclaration, SharingType, SubjectType

TAXPAYER_KIND = {"1": "单位纳税人", "2": "个体工商户", "3": "自然人"}
TAXPAYER_STATUS = {"1": "正常", "2": "停业", "3": "非正常", "4": "注销"}

REGISTRATION = "302001001-000001"
CERTIFICATE = "302002001-000001"
LICENSE_TYPE = "tax_payment_certificate"

_LAW = "《中华人民共和国税收征收管理法》"
_CODE_TABLE = "tax registration code table (docs/adapters/tax.md)"

DATASETS: tuple[DatasetDeclaration, ...] = (
    DatasetDeclaration(
        code=REGISTRATION,
        related=("302002001-000001",),
        name="纳税人登记信息",
        summary=(
            "市税务局登记的纳税人信息：名称、纳税人类型、主管税务机关、登记日期及状态，覆盖全部单位及曾经纳税的个人。"
        ),
        items=(
            DataItem("taxpayer_name", "纳税人名称", "string", "GB 18030 (names)", personal=True),
            DataItem("taxpayer_kind", "纳税人类型", "code", _CODE_TABLE, personal=False),
            DataItem("tax_office", "主管税务机关", "string", "STA tax authority name", personal=True),
            DataItem("registered_on", "登记日期", "date", "GB/T 7408 (date)", personal=True),
            DataItem("status", "纳税人状态", "code", _CODE_TABLE, personal=True),
        ),
        subject_types=frozenset({SubjectType.ID_CARD, SubjectType.USCC}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="daily",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY}),
        sharing_conditions=(
            "共享给需要税务登记证明的审批事项（企业登记、政府采购、补贴）；涉及自然人的须经纳税人同意或有法定依据。"
        ),
        legal_basis=f"{_LAW} 第十五条、第十六条 (税务登记)",
    ),
    DatasetDeclaration(
        code=CERTIFICATE,
        related=("302001001-000001",),
        name="税收完税证明",
        summary=("税收完税证明：已登记纳税人全部有效（未作废）的电子税票，以及合计实缴金额和最近缴款日期。"),
        items=(
            DataItem(
                "payments",
                "完税记录",
                "array",
                "税收票证管理办法 (国家税务总局令第28号): 电子税票号码, 征收项目, 征收品目, 税款所属期, "
                "实缴金额, 缴款日期, 税务机关",
                personal=True,
                sensitivity="sensitive",
            ),
            DataItem("latest_paid_on", "最近缴款日期", "date", "GB/T 7408 (date)", personal=True),
            DataItem(
                "total_amount",
                "实缴金额合计",
                "decimal",
                "CNY yuan, two decimals",
                personal=True,
                sensitivity="sensitive",
            ),
        ),
        subject_types=frozenset({SubjectType.ID_CARD, SubjectType.USCC}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="daily",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY, AccessMethod.LICENSE}),
        sharing_conditions=(
            "共享给需要完税证明的事项（购房资格、入学、居住证、招投标），须经纳税人同意或有法定依据；金额属敏感信息，仅提供授权信息项。"
        ),
        legal_basis=f"{_LAW}; 税收票证管理办法 (国家税务总局令第28号)",
        license_type=LICENSE_TYPE,
    ),
)
