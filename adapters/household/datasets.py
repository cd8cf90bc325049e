"""The household register's datasets, as the public security bureau declares them to the directory.

Codes follow the hub's resource-code form (class 3, item 01 = household); item names are the
standard data elements the adapter maps the register's pinyin-initial columns onto.
"""

from __future__ import annotations

from adapters.base import AccessMethod, DataItem, DatasetDeclaration, SharingType, SubjectType

PERSON_BASIC = "301001001-000001"  # 常住人口基本信息
HOUSEHOLD_REGISTER = "301002001-000001"  # 居民户口簿
PERSON_PHOTO = "301003001-000001"  # 人口照片信息 (不予共享)

LICENSE_TYPE = "household_register"

# Person status (人员状态) as the hub publishes it; the register's RYZT codes map onto these two.
STATUS_ACTIVE = "active"
STATUS_DEREGISTERED = "deregistered"

_LEGAL_BASIS = (
    "《中华人民共和国户口登记条例》；《中华人民共和国居民身份证法》；"
    "《政务信息资源共享管理暂行办法》（国发〔2016〕51号）"
)
_CONDITIONS = (
    "仅限政务服务事项办理中核验申请人及其家庭成员的身份和户籍信息；"
    "须经公安机关审核同意的共享申请，按事项和用途使用，不得转授第三方。"
)

DATASETS: tuple[DatasetDeclaration, ...] = (
    DatasetDeclaration(
        code=PERSON_BASIC,
        related=("301002001-000001",),
        name="常住人口基本信息",
        summary="户籍登记的常住人口基本信息：姓名、性别、民族、出生日期、出生地、住址、户号、"
        "与户主关系及人员状态（正常/注销）。",
        items=(
            DataItem("name", "姓名", "string", "GA/T 543 (公安数据元: 姓名)", personal=True),
            DataItem("sex", "性别", "code", "GB/T 2261.1", personal=True),
            DataItem("ethnicity", "民族", "code", "GB/T 3304", personal=True, sensitivity="sensitive"),
            DataItem("birth_date", "出生日期", "date", "GB/T 7408 (date)", personal=True),
            DataItem("birthplace", "出生地", "code", "GB/T 2260 (county code)", personal=True),
            DataItem(
                "address", "住址", "string", "GA/T 543 (公安数据元: 门楼详址)", True, sensitivity="sensitive"
            ),
            DataItem("household_no", "户号", "string", "GA/T 543 (公安数据元: 户号)", personal=True),
            DataItem("relation_to_head", "与户主关系", "code", "GB/T 4761", personal=True),
            DataItem(
                "status",
                "人员状态",
                "code",
                "hub code table: active (正常) | deregistered (注销: 死亡、迁出等)",
                personal=True,
            ),
            DataItem("deregistered_on", "注销日期", "date", "GB/T 7408 (date)", personal=True),
        ),
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="real-time",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY}),
        sharing_conditions=_CONDITIONS,
        legal_basis=_LEGAL_BASIS,
    ),
    DatasetDeclaration(
        code=HOUSEHOLD_REGISTER,
        related=("301001001-000001",),
        name="居民户口簿",
        summary="居民户口簿（电子证照）：户号、户类型、户主及在册成员。按任一在册成员的公民身份号码查户。",
        items=(
            DataItem("household_no", "户号", "string", "GA/T 543 (公安数据元: 户号)", personal=True),
            DataItem(
                "household_type", "户类型", "code", "GA/T 543 (户类型: 1 家庭户, 2 集体户)", personal=False
            ),
            DataItem("head_name", "户主姓名", "string", "GA/T 543 (公安数据元: 姓名)", personal=True),
            DataItem("head_id_number", "户主公民身份号码", "string", "GB 11643-1999", personal=True),
            DataItem(
                "address", "住址", "string", "GA/T 543 (公安数据元: 门楼详址)", True, sensitivity="sensitive"
            ),
            DataItem(
                "members",
                "户内成员",
                "array",
                "list of {name, id_number (GB 11643-1999), relation_to_head (GB/T 4761), "
                "sex (GB/T 2261.1), birth_date (GB/T 7408)}",
                personal=True,
                sensitivity="sensitive",
            ),
        ),
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="daily",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.LICENSE}),
        sharing_conditions=_CONDITIONS,
        legal_basis=_LEGAL_BASIS,
        license_type=LICENSE_TYPE,
    ),
    DatasetDeclaration(
        code=PERSON_PHOTO,
        name="人口照片信息",
        summary="居民身份证制证照片。生物识别信息，不予共享；仅在目录中登记，不提供任何访问方式。",
        items=(
            DataItem("photo", "人像照片", "string", "GA 461 (居民身份证制证用数字相片)", True, "sensitive"),
            DataItem("photo_taken_on", "采集日期", "date", "GB/T 7408 (date)", personal=True),
        ),
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.NONE,
        update_cycle="real-time",
        access_methods=frozenset(),
        legal_basis="《中华人民共和国个人信息保护法》第二十八条（生物识别信息属敏感个人信息）",
    ),
)
