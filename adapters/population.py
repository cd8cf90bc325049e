"""The synthetic population that all four simulated legacy systems share: the ground truth.

One seeded, deterministic stream of households (with their members, jobs, tax payments and
properties) and employers. Each simulator renders the same facts in its own legacy form, so one
person appears consistently in the household register, the tax files, the social-insurance API
and the real-estate register, and tests can compare every adapter's answer with the truth here.

Properties the rest of the project relies on:

- deterministic: the same ``seed`` and ``as_of`` give the same population on every machine;
- prefix-stable: a population of *n* is the first *n* persons of any larger one, except that its
  last household is cut short (each household draws from its own generator; the few counters
  are sequential);
- streaming: households are produced one at a time and only a few hundred counters are kept, so
  a million persons never sit in memory;
- valid: every citizen ID passes GB 11643-1999, every USCC GB 32100-2015, every unit number
  GB/T 37346; citizen IDs are unique by construction (see :class:`_CitizenIdAllocator`).

Names and places come from small built-in tables rather than a faker library on purpose: a faker's
seeded output may change between its releases, and this population must not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from adapters.code_tables import CITY_NAME, COUNTIES, PROVINCE_ABBREVIATION
from exchange.identifiers import citizen_id_check_char, make_property_unit, make_uscc

DEFAULT_SEED = 20261121
DEFAULT_AS_OF = date(2026, 10, 31)  # the day the simulated systems were last updated
CENT = Decimal("0.01")

INSURANCE_TYPES = ("110", "210", "310", "410", "510")  # AAE140, see code_tables.INSURANCE_TYPE
SI_BASE_MIN, SI_BASE_MAX = 4812, 24930  # the demo province's contribution-base floor and ceiling


@dataclass(frozen=True, slots=True)
class Job:
    """An employment span; social insurance is paid for every month of it."""

    employer: int  # index of the Employer
    start: date  # first day of the first contribution month
    end: date | None  # first day of the last contribution month; None = still employed
    monthly_wage: int  # yuan

    @property
    def contribution_base(self) -> int:
        """AAE180: the wage, clamped to the province's floor and ceiling."""
        return min(max(self.monthly_wage, SI_BASE_MIN), SI_BASE_MAX)


@dataclass(frozen=True, slots=True)
class TaxPayment:
    """One tax-paid certificate line (税收完税证明), for a person or an employer."""

    receipt_no: str  # 电子税票号码, 18 digits
    taxpayer_id: str  # citizen ID or USCC
    taxpayer_name: str
    levy_item: str  # 征收项目
    levy_detail: str  # 征收品目
    period_from: date
    period_to: date
    amount: Decimal
    paid_on: date
    tax_office: str
    voided_on: date | None = None  # 作废 (a red-letter correction withdrew it)


@dataclass(frozen=True, slots=True)
class Owner:
    citizen_id: str
    name: str
    share: Decimal  # fraction of the property, 0 < share <= 1


@dataclass(frozen=True, slots=True)
class Property:
    """One registered house and its real-estate title certificate (不动产权证书)."""

    unit_number: str  # GB/T 37346, 28 characters
    certificate_no: str  # 浙(2019)杭州市不动产权第0001234号
    location: str  # 坐落
    county: str
    use: str  # 住宅 | 商业 | 办公
    area: Decimal  # building area, m²
    right_type: str  # 国有建设用地使用权/房屋所有权
    co_ownership: str  # 单独所有 | 共同共有 | 按份共有
    owners: tuple[Owner, ...]
    registered_on: date
    mortgaged: bool
    mortgagee: str | None
    seized: bool
    cancelled_on: date | None  # 注销登记


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    citizen_id: str
    name: str
    sex: str  # GB/T 2261.1
    ethnicity: str  # GB/T 3304
    birth_date: date
    birthplace: str  # GB/T 2260 county code
    household: str  # household number (户号)
    relation: str  # GB/T 4761 relation to the household head
    deregistered_on: date | None = None  # 注销 (death)
    jobs: tuple[Job, ...] = ()
    tax_payments: tuple[TaxPayment, ...] = ()

    @property
    def alive(self) -> bool:
        return self.deregistered_on is None

    @property
    def current_job(self) -> Job | None:
        return next((job for job in self.jobs if job.end is None), None)


@dataclass(frozen=True, slots=True)
class Household:
    number: str  # 户号, 9 digits
    county: str  # GB/T 2260 county code
    address: str  # 门楼详址, with ASCII digits (simulators add their own quirks)
    kind: str  # 户类型: 1 家庭户, 2 集体户
    registered_on: date
    members: tuple[Person, ...]
    properties: tuple[Property, ...] = ()

    @property
    def head(self) -> Person:
        return self.members[0]


@dataclass(frozen=True, slots=True)
class Employer:
    index: int
    uscc: str
    name: str
    si_number: str  # AAB001, the social-insurance unit number
    county: str
    address: str
    legal_representative: str
    founded_on: date
    tax_payments: tuple[TaxPayment, ...] = field(default=())


def employer_count(persons: int) -> int:
    """How many employers a population of ``persons`` has (person i picks from the first 20 + i // 25)."""
    return 20 + persons // 25


class Population:
    """``Population(persons=1000).households()`` streams the truth; see the module docstring."""

    def __init__(self, persons: int, *, seed: int = DEFAULT_SEED, as_of: date = DEFAULT_AS_OF) -> None:
        if persons < 1:
            raise ValueError("a population needs at least one person")
        self.persons = persons
        self.seed = seed
        self.as_of = as_of

    @property
    def employers_total(self) -> int:
        return employer_count(self.persons)

    def households(self) -> Iterator[Household]:
        """Households in order until ``persons`` persons were produced (the last may be cut short)."""
        ids = _CitizenIdAllocator()
        receipts = _Counter()
        certificates: dict[int, int] = {}
        emitted = 0
        number = 0
        while emitted < self.persons:
            rng = random.Random(self.seed * 1_000_003 + number)
            household = _household(rng, self, number, emitted, ids, receipts, certificates)
            household = _truncate(household, self.persons - emitted)
            emitted += len(household.members)
            number += 1
            yield household

    def persons_iter(self) -> Iterator[Person]:
        for household in self.households():
            yield from household.members

    def known_everywhere(self) -> Iterator[str]:
        """Citizen IDs every simulated department holds a record of (see :func:`in_all_systems`)."""
        for household in self.households():
            for person in household.members:
                if in_all_systems(person, household):
                    yield person.citizen_id

    def employers(self) -> Iterator[Employer]:
        receipts = _Counter(start=900_000_000)
        for index in range(self.employers_total):
            yield _employer(random.Random(self.seed * 7_000_003 + index), index, self.as_of, receipts)

    def employer(self, index: int) -> Employer:
        """One employer (its tax-receipt numbers differ from the streamed ones; use for names only)."""
        return _employer(random.Random(self.seed * 7_000_003 + index), index, self.as_of, _Counter())


def in_all_systems(person: Person, household: Household) -> bool:
    """Whether every simulated department holds a record of this person right now."""
    return (
        person.alive
        and person.current_job is not None
        and any(p.cancelled_on is None for p in _owned(person, household))
        and any(t.voided_on is None for t in person.tax_payments)
    )


def _owned(person: Person, household: Household) -> Iterator[Property]:
    for prop in household.properties:
        if any(owner.citizen_id == person.citizen_id for owner in prop.owners):
            yield prop


# --- name and place tables -------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国晨浩宇欣怡子涵梓轩"
    "雨桐一诺思远博文嘉怡俊杰佳琪梦瑶晓东志强海燕春梅金凤文静立新宏伟丹丹淑珍雪梅晶晶婷婷慧敏家豪天佑"
)
_UYGHUR_GIVEN = ("阿依古丽", "买买提", "热依拉", "艾力", "古丽娜尔", "阿不都", "努尔", "帕尔哈提")
_STREETS = (
    "文三路",
    "文一西路",
    "教工路",
    "古墩路",
    "莫干山路",
    "延安路",
    "解放路",
    "庆春路",
    "江南大道",
    "滨盛路",
    "人民路",
    "金城路",
    "文化路",
    "迎宾路",
    "钱江路",
    "之江路",
)
_COMMUNITIES = ("花园", "新村", "家园", "公寓", "小区", "苑", "府", "里")
_FIRM_WORDS = (
    "华信",
    "恒通",
    "远景",
    "启明",
    "和达",
    "新源",
    "博创",
    "联合",
    "云帆",
    "东方",
    "天合",
    "瑞丰",
    "安泰",
    "中禾",
    "汇智",
    "锦程",
)
_FIRM_TRADES = ("科技", "网络", "建设", "贸易", "物流", "餐饮", "医药", "机械", "文化", "服饰")
_BANKS = ("中国工商银行杭州分行", "中国建设银行杭州分行", "杭州银行", "浙江农商银行", "中国银行杭州市分行")
_OUT_OF_CITY = {  # birthplace county -> likely ethnicity
    "330302": "01",
    "340104": "01",
    "410105": "01",
    "510104": "01",
    "650102": "05",
    "540102": "04",
    "150102": "02",
    "640104": "03",
    "522601": "06",
    "220104": "10",
}
_COUNTY_CODES = tuple(COUNTIES)


def _tax_office(county: str) -> str:
    return f"国家税务总局{CITY_NAME}{COUNTIES[county]}税务局"


# --- generation --------------------------------------------------------------------------------


class _Counter:
    def __init__(self, start: int = 0) -> None:
        self.value = start

    def next(self) -> int:
        self.value += 1
        return self.value


class _CitizenIdAllocator:
    """Unique citizen IDs without remembering them.

    Persons with the same birthplace county, birth year and sex are numbered in order of appearance;
    the n-th such person gets slot n, and a fixed affine permutation of the 365 x 500 slots of a year
    spreads slots over (day of year, sequence number). Sequence parity encodes sex (odd = male), so
    (county, date, sequence) never repeats: the state is one counter per county, year and sex.
    """

    _SLOTS = 365 * 500
    _STRIDE = 100_003  # coprime with 182 500

    def __init__(self) -> None:
        self._next: dict[tuple[str, int, str], int] = {}

    def allocate(self, county: str, year: int, sex: str) -> tuple[str, date]:
        key = (county, year, sex)
        slot = self._next.get(key, 0)
        if slot >= self._SLOTS:
            raise OverflowError(f"more than {self._SLOTS} persons born in {county} in {year} of sex {sex}")
        self._next[key] = slot + 1
        offset = (int(county) * 31 + year * 7 + int(sex)) * 7919
        spread = (slot * self._STRIDE + offset) % self._SLOTS
        day, pair = divmod(spread, 500)
        born = date(year, 1, 1) + timedelta(days=day)
        sequence = pair * 2 + (1 if sex == "1" else 0)
        first17 = f"{county}{born:%Y%m%d}{sequence:03d}"  # valid by construction; tests check all
        return first17 + citizen_id_check_char(first17), born


def _name(rng: random.Random, surname: str | None, ethnicity: str) -> str:
    if ethnicity == "05":
        return f"{rng.choice(_UYGHUR_GIVEN)}·{rng.choice(_UYGHUR_GIVEN)}"
    surname = surname or rng.choice(_SURNAMES)
    return surname + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _birthplace(rng: random.Random, home_county: str) -> tuple[str, str]:
    """(county, ethnicity): most are born in the city, a few elsewhere (some of them minorities)."""
    if rng.random() < 0.88:
        return (home_county if rng.random() < 0.7 else rng.choice(_COUNTY_CODES)), "01"
    county = rng.choice(tuple(_OUT_OF_CITY))
    return county, _OUT_OF_CITY[county] if rng.random() < 0.6 else "01"


def _truncate(household: Household, room: int) -> Household:
    """Cut the last household to the persons left; cut-off co-owners leave their share to the head."""
    if len(household.members) <= room:
        return household
    members = household.members[:room]
    kept = {m.citizen_id for m in members}
    properties = tuple(
        prop
        if all(owner.citizen_id in kept for owner in prop.owners)
        else replace(prop, owners=(replace(prop.owners[0], share=Decimal(1)),), co_ownership="单独所有")
        for prop in household.properties
    )
    return replace(household, members=members, properties=properties)


def _household(
    rng: random.Random,
    population: Population,
    number: int,
    first_index: int,
    ids: _CitizenIdAllocator,
    receipts: _Counter,
    certificates: dict[int, int],
) -> Household:
    as_of = population.as_of
    county = rng.choice(_COUNTY_CODES)
    household_no = f"{330000000 + number:09d}"
    address = (
        f"{CITY_NAME}{COUNTIES[county]}{rng.choice(_STREETS)}{rng.randint(1, 999)}号"
        f"{rng.choice(_SURNAMES)}{rng.choice(_COMMUNITIES)}"
        f"{rng.randint(1, 30)}幢{rng.randint(1, 28)}0{rng.randint(1, 6)}室"
    )

    plans: list[tuple[str, str, int, str | None]] = []  # (sex, relation, birth year, surname)
    head_sex = rng.choice("12")
    head_year = as_of.year - rng.randint(22, 85)
    head_surname = rng.choice(_SURNAMES)
    plans.append((head_sex, "02", head_year, head_surname))
    if rng.random() < 0.72 and as_of.year - head_year >= 22:
        spouse_sex = "2" if head_sex == "1" else "1"
        plans.append((spouse_sex, "12" if spouse_sex == "2" else "11", head_year + rng.randint(-4, 4), None))
    children = rng.choice((0, 0, 1, 1, 1, 2, 2, 3)) if as_of.year - head_year >= 24 else 0
    for order in range(children):
        year = head_year + rng.randint(22, 38)
        if year > as_of.year - 1:
            continue
        sex = rng.choice("12")
        if children == 1:
            relation = "21" if sex == "1" else "31"
        else:
            relation = (
                (f"2{min(order + 2, 6)}" if sex == "1" else f"3{min(order + 2, 6)}") if order < 5 else "29"
            )
        plans.append((sex, relation, year, head_surname))
    if rng.random() < 0.12 and as_of.year - head_year < 50:
        sex = rng.choice("12")
        plans.append((sex, "51" if sex == "1" else "52", head_year - rng.randint(22, 35), head_surname))

    members: list[Person] = []
    for offset, (sex, relation, year, surname) in enumerate(plans):
        birthplace, ethnicity = _birthplace(rng, county)
        citizen_id, born = ids.allocate(birthplace, year, sex)
        name = _name(rng, surname if ethnicity == "01" else None, ethnicity)
        age = as_of.year - born.year
        deregistered = None
        if age >= 75 and rng.random() < 0.08:
            deregistered = as_of - timedelta(days=rng.randint(1, 900))
        jobs = _jobs(rng, population, first_index + offset, born) if deregistered is None else ()
        members.append(
            Person(
                index=first_index + offset,
                citizen_id=citizen_id,
                name=name,
                sex=sex,
                ethnicity=ethnicity,
                birth_date=born,
                birthplace=birthplace,
                household=household_no,
                relation=relation,
                deregistered_on=deregistered,
                jobs=jobs,
            )
        )
    members = [_with_income_tax(rng, person, county, as_of, receipts) for person in members]

    properties = _properties(rng, members, county, as_of, number, certificates)
    if properties:
        head = members[0]
        deed_taxes = tuple(
            _payment(
                receipts,
                county,
                head,
                "契税",
                "房屋买卖",
                prop.registered_on,
                prop.registered_on,
                (prop.area * Decimal(rng.randint(18_000, 45_000)) * Decimal("0.015")).quantize(CENT),
                prop.registered_on,
            )
            for prop in properties
            if prop.owners[0].citizen_id == head.citizen_id and prop.registered_on.year >= 2016
        )
        members[0] = replace(head, tax_payments=head.tax_payments + deed_taxes)
    registered = max(date(1985, 1, 1), members[0].birth_date + timedelta(days=365 * 18))
    return Household(
        number=household_no,
        county=county,
        address=address,
        kind="1",
        registered_on=min(registered, as_of),
        members=tuple(members),
        properties=tuple(properties),
    )


def _jobs(rng: random.Random, population: Population, index: int, born: date) -> tuple[Job, ...]:
    as_of = population.as_of
    age = as_of.year - born.year
    if not 18 <= age <= 62 or rng.random() > 0.78:
        return ()
    employers = 20 + index // 25
    earliest = max(date(born.year + 18, born.month, 1), date(2008, 1, 1))
    last_month = date(as_of.year, as_of.month, 1)
    months = (last_month.year - earliest.year) * 12 + last_month.month - earliest.month
    start = _add_months(earliest, rng.randint(0, max(months, 0)))
    wage = int(rng.lognormvariate(8.9, 0.45))
    jobs = []
    if rng.random() < 0.35 and (last_month.year - start.year) * 12 + last_month.month - start.month > 24:
        switch = _add_months(start, rng.randint(6, 18))
        jobs.append(Job(rng.randrange(employers), start, _add_months(switch, -1), int(wage * 0.8)))
        start = switch
    current_ends = None if rng.random() < 0.93 else _add_months(last_month, -rng.randint(1, 12))
    if current_ends is not None and current_ends < start:
        current_ends = start
    jobs.append(Job(rng.randrange(employers), start, current_ends, wage))
    return tuple(jobs)


def _add_months(month: date, count: int) -> date:
    total = month.year * 12 + month.month - 1 + count
    return date(total // 12, total % 12 + 1, 1)


def _months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def _with_income_tax(
    rng: random.Random, person: Person, county: str, as_of: date, receipts: _Counter
) -> Person:
    """Annual individual income tax on wages for the last two complete years."""
    if not person.jobs:
        return person
    payments = []
    for year in (as_of.year - 2, as_of.year - 1):
        january, december = date(year, 1, 1), date(year, 12, 1)
        spans = [
            (max(job.start, january), min(job.end or december, december), job)
            for job in person.jobs
            if job.start <= december and (job.end is None or job.end >= january)
        ]
        if not spans:
            continue
        taxable = sum(
            (_months_between(first, last) + 1) * (job.monthly_wage - 5000 - job.contribution_base * 0.105)
            for first, last, job in spans
        )
        amount = _annual_income_tax(Decimal(taxable).quantize(CENT))
        if amount <= 0:
            continue
        paid_on = date(year + 1, rng.randint(3, 6), rng.randint(1, 28))
        voided = paid_on + timedelta(days=rng.randint(1, 30)) if rng.random() < 0.02 else None
        payments.append(
            _payment(
                receipts,
                county,
                person,
                "个人所得税",
                "工资薪金所得",
                min(first for first, _, _ in spans),
                _month_end(max(last for _, last, _ in spans)),
                amount,
                paid_on,
                voided,
            )
        )
    return replace(person, tax_payments=tuple(payments))


def _month_end(month: date) -> date:
    return _add_months(month, 1) - timedelta(days=1)


def _annual_income_tax(taxable: Decimal) -> Decimal:
    """The comprehensive-income bracket table (综合所得税率表) with its quick deductions."""
    brackets = (
        (Decimal(36_000), Decimal("0.03"), 0),
        (Decimal(144_000), Decimal("0.10"), 2_520),
        (Decimal(300_000), Decimal("0.20"), 16_920),
        (Decimal(420_000), Decimal("0.25"), 31_920),
        (Decimal(660_000), Decimal("0.30"), 52_920),
        (Decimal(960_000), Decimal("0.35"), 85_920),
    )
    if taxable <= 0:
        return Decimal(0)
    for ceiling, rate, deduction in brackets:
        if taxable <= ceiling:
            return (taxable * rate - deduction).quantize(CENT, ROUND_HALF_UP)
    return (taxable * Decimal("0.45") - 181_920).quantize(CENT, ROUND_HALF_UP)


def _payment(
    receipts: _Counter,
    county: str,
    payer: Person | Employer,
    item: str,
    detail: str,
    period_from: date,
    period_to: date,
    amount: Decimal,
    paid_on: date,
    voided_on: date | None = None,
) -> TaxPayment:
    taxpayer_id = payer.citizen_id if isinstance(payer, Person) else payer.uscc
    return TaxPayment(
        receipt_no=f"3{county[:4]}{paid_on.year % 100:02d}{receipts.next():011d}",
        taxpayer_id=taxpayer_id,
        taxpayer_name=payer.name,
        levy_item=item,
        levy_detail=detail,
        period_from=period_from,
        period_to=period_to,
        amount=amount,
        paid_on=paid_on,
        tax_office=_tax_office(county),
        voided_on=voided_on,
    )


def _properties(
    rng: random.Random,
    members: list[Person],
    county: str,
    as_of: date,
    number: int,
    certificates: dict[int, int],
) -> list[Property]:
    head = members[0]
    if as_of.year - head.birth_date.year < 24 or rng.random() > 0.62:
        return []
    spouse = next((m for m in members[1:] if m.relation in {"10", "11", "12"}), None)
    count = 1 if rng.random() < 0.85 else 2
    props = []
    for serial in range(count):
        earliest = max(head.birth_date.year + 23, 2000)
        if earliest > as_of.year:
            break
        registered = date(rng.randint(earliest, as_of.year), rng.randint(1, 12), rng.randint(1, 28))
        registered = min(registered, as_of)
        sequence = certificates.get(registered.year, 0) + 1
        certificates[registered.year] = sequence
        key = number * 2 + serial  # unique per property; spreads over zone, subzone and parcel
        zone, rest = divmod(key, 999 * 99_999)
        subzone, parcel = divmod(rest, 99_999)
        unit = make_property_unit(
            county,
            zone + 1,
            subzone + 1,
            "GB",
            parcel + 1,
            "F",
            rng.randint(1, 40) * 10_000 + rng.randint(101, 3206),
        )
        if spouse is not None and rng.random() < 0.7:
            joint = rng.random() < 0.6
            shares = (Decimal("0.5"), Decimal("0.5"))
            owners = (
                Owner(head.citizen_id, head.name, shares[0]),
                Owner(spouse.citizen_id, spouse.name, shares[1]),
            )
            co_ownership = "共同共有" if joint else "按份共有"
        else:
            owners = (Owner(head.citizen_id, head.name, Decimal(1)),)
            co_ownership = "单独所有"
        mortgaged = registered.year >= as_of.year - 20 and rng.random() < 0.45
        use = rng.choices(("住宅", "商业", "办公"), weights=(90, 6, 4))[0]
        cancelled = None
        if serial == 1 and rng.random() < 0.3:
            cancelled = min(as_of, registered + timedelta(days=rng.randint(200, 3000)))
        props.append(
            Property(
                unit_number=unit,
                certificate_no=(
                    f"{PROVINCE_ABBREVIATION}({registered.year}){CITY_NAME}不动产权第{sequence:07d}号"
                ),
                location=(
                    f"{COUNTIES[county]}{rng.choice(_STREETS)}{rng.randint(1, 999)}号"
                    f"{rng.randint(1, 40)}幢{rng.randint(1, 32)}0{rng.randint(1, 6)}室"
                ),
                county=county,
                use=use,
                area=Decimal(rng.randint(3_500, 18_000)) / 100,
                right_type="国有建设用地使用权/房屋所有权",
                co_ownership=co_ownership,
                owners=owners,
                registered_on=registered,
                mortgaged=mortgaged and cancelled is None,
                mortgagee=rng.choice(_BANKS) if mortgaged and cancelled is None else None,
                seized=cancelled is None and rng.random() < 0.01,
                cancelled_on=cancelled,
            )
        )
    return props


def _employer(rng: random.Random, index: int, as_of: date, receipts: _Counter) -> Employer:
    county = rng.choice(_COUNTY_CODES)
    body = _organisation_code(f"{index + 10_000_000:08d}"[-8:])
    uscc = make_uscc("9", "1", county, body)
    name = f"{CITY_NAME[:2]}{rng.choice(_FIRM_WORDS)}{rng.choice(_FIRM_TRADES)}有限公司"
    name = f"{name[:-4]}{index:05d}{name[-4:]}" if index >= len(_FIRM_WORDS) * len(_FIRM_TRADES) else name
    founded = date(rng.randint(1995, as_of.year - 1), rng.randint(1, 12), rng.randint(1, 28))
    employer = Employer(
        index=index,
        uscc=uscc,
        name=name,
        si_number=f"33{index + 1:08d}",
        county=county,
        address=f"{CITY_NAME}{COUNTIES[county]}{rng.choice(_STREETS)}{rng.randint(1, 999)}号",
        legal_representative=_name(rng, None, "01"),
        founded_on=founded,
    )
    payments = []
    for quarter in range(4):
        start = _add_months(date(as_of.year, (as_of.month - 1) // 3 * 3 + 1, 1), -3 * (4 - quarter))
        if start < founded:
            continue
        end = _month_end(_add_months(start, 2))
        amount = Decimal(rng.randint(5_000, 900_000)) / 100
        paid_on = end + timedelta(days=rng.randint(5, 15))
        payments.append(_payment(receipts, county, employer, "增值税", "商业", start, end, amount, paid_on))
    return replace(employer, tax_payments=tuple(payments))


def _organisation_code(body8: str) -> str:
    """GB 11714-1997 organisation code: eight digits and a MOD 11 check character."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(ch) * w for ch, w in zip(body8, weights, strict=True))
    check = 11 - total % 11
    return body8 + {10: "X", 11: "0"}.get(check, str(check))
