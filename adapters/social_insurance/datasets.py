"""The social-insurance bureau's datasets in the resource directory (class 3, item 03 = social insurance).

Item names are English snake_case; each cites the national social-insurance data element it comes
from (人力资源社会保障部《社会保险管理信息系统指标体系》, the AAxxxx dictionary). Code tables the
adapter answers in (documented in docs/adapters/social_insurance.md):

- ``insured_status`` (AAC008 人员参保状态): ``1`` 正常参保, ``2`` 暂停参保, ``4`` 终止参保;
- ``insurance_types`` / ``insurance_type`` (AAE140 险种类型, the current three-digit codes of
  :data:`adapters.code_tables.INSURANCE_TYPE`): ``110`` 企业职工基本养老保险, ``210`` 失业保险,
  ``310`` 职工基本医疗保险, ``410`` 工伤保险, ``510`` 生育保险;
- employer ``status`` (AAB051 单位参保状态): ``1`` 参保缴费, ``2`` 暂停缴费, ``3`` 终止参保.

Months are ISO 8601 calendar months (``YYYY-MM``, GB/T 7408); the legacy system's AAE003 is ``YYYYMM``.
"""

from __future__ import annotations

from adapters.base import AccessMethod, DataItem, DatasetDeclaration, SharingType, SubjectType

INSURED_STATUS = {"1": "正常参保", "2": "暂停参保", "4": "终止参保"}
EMPLOYER_STATUS = {"1": "参保缴费", "2": "暂停缴费", "3": "终止参保"}

ENROLMENT = "303001001-000001"
CERTIFICATE = "303002001-000001"
EMPLOYER = "303003001-000001"
LICENSE_TYPE = "social_insurance_certificate"

_LAW = "《中华人民共和国社会保险法》"
_SHARING = "《政务信息资源共享管理暂行办法》(国发〔2016〕51号)"
_MONTH = "GB/T 7408 calendar month (YYYY-MM)"

DATASETS: tuple[DatasetDeclaration, ...] = (
    DatasetDeclaration(
        code=ENROLMENT,
        related=("303002001-000001",),
        name="参保信息",
        summary=(
            "个人在本市社会保险经办机构的参保信息：参保状态、当前参保单位、当前缴费险种及养老保险缴费记录（首次及最近缴费月份、累计缴费月数、最近缴费基数）。"
        ),
        items=(
            DataItem("name", "姓名", "string", "AAC003 (national SI data element)", personal=True),
            DataItem(
                "insured_status",
                "人员参保状态",
                "code",
                "AAC008 (national SI data element): 1 正常参保, 2 暂停参保, 4 终止参保",
                personal=True,
            ),
            DataItem("employer_name", "参保单位名称", "string", "AAB004 (national SI data element)", True),
            DataItem(
                "employer_uscc",
                "参保单位统一社会信用代码",
                "string",
                "GB 32100-2015 (AAB998)",
                personal=True,
            ),
            DataItem(
                "insurance_types",
                "当前缴费险种",
                "array",
                "AAE140 (national SI data element), three-digit codes",
                personal=True,
            ),
            DataItem(
                "first_contribution_month",
                "首次缴费年月",
                "string",
                f"AAE003 (national SI data element) as {_MONTH}",
                personal=True,
            ),
            DataItem(
                "contribution_months",
                "养老保险累计缴费月数",
                "integer",
                "AAE003 months of AAE140 110 (企业职工基本养老保险)",
                personal=True,
            ),
            DataItem(
                "latest_contribution_month",
                "最近缴费年月",
                "string",
                f"AAE003 (national SI data element) as {_MONTH}",
                personal=True,
            ),
            DataItem(
                "latest_contribution_base",
                "最近缴费基数",
                "decimal",
                "AAE180 (national SI data element), CNY yuan, two decimals",
                personal=True,
                sensitivity="sensitive",
            ),
        ),
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="daily",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY}),
        sharing_conditions=(
            "共享给需要本地社会保险参保证明的审批事项（入学、户籍迁移、购房资格、人才补贴），仅限事项所需信息项，须经参保人同意或有法定依据。"
        ),
        legal_basis=f"{_LAW} 第五十七条至第五十九条、第七十四条 (社会保险登记、缴费与信息共享); {_SHARING}",
    ),
    DatasetDeclaration(
        code=CERTIFICATE,
        related=("303001001-000001",),
        name="社会保险参保缴费证明",
        summary=(
            "社会保险参保缴费证明：按险种、缴费基数和参保单位合并为连续月份区段的完整缴费历史、养老保险累计缴费月数及数据截止月份。"
        ),
        items=(
            DataItem("name", "姓名", "string", "AAC003 (national SI data element)", personal=True),
            DataItem(
                "contribution_history",
                "缴费记录",
                "array",
                "spans of AAE003 months: {from, to (GB/T 7408 YYYY-MM), insurance_type (AAE140), "
                "base (AAE180, CNY yuan), employer_name (AAB004)}",
                personal=True,
                sensitivity="sensitive",
            ),
            DataItem(
                "contribution_months",
                "养老保险累计缴费月数",
                "integer",
                "AAE003 months of AAE140 110 (企业职工基本养老保险)",
                personal=True,
            ),
            DataItem("as_of_month", "数据截止年月", "string", _MONTH, personal=False),
        ),
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="monthly",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.LICENSE}),
        sharing_conditions=(
            "在需要参保缴费证明的事项（购房及小客车指标资格、居住证积分、入学）中替代纸质证明，须经参保人同意或有法定依据。"
        ),
        legal_basis=f"{_LAW} 第七十四条 (社会保险经办机构提供个人权益记录); {_SHARING}",
        license_type=LICENSE_TYPE,
    ),
    DatasetDeclaration(
        code=EMPLOYER,
        name="单位参保登记信息",
        summary=("单位社会保险登记信息：单位名称、社会保险单位编号、当前参保人数及参保状态。"),
        items=(
            DataItem("employer_name", "单位名称", "string", "AAB004 (national SI data element)", False),
            DataItem(
                "si_number",
                "单位社会保险编号",
                "string",
                "AAB001 (national SI data element)",
                personal=False,
            ),
            DataItem(
                "insured_count",
                "在职参保人数",
                "integer",
                "count of AAC008 1 persons with an open AAE140 110 enrolment at the unit",
                personal=False,
            ),
            DataItem(
                "status",
                "单位参保状态",
                "code",
                "AAB051 (national SI data element): 1 参保缴费, 2 暂停缴费, 3 终止参保",
                personal=False,
            ),
        ),
        subject_types=frozenset({SubjectType.USCC}),
        sharing_type=SharingType.UNCONDITIONAL,
        update_cycle="monthly",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY}),
        legal_basis=f"{_LAW} 第五十七条 (用人单位社会保险登记); {_SHARING}",
    ),
)
