"""What the social-insurance system must answer, computed from the population alone (not from the store).

The rendering rules are the simulator's documented ones: contributions for 110, 210, 310 and 410 every
month of a job up to the data month; 510 only up to 2019-12 (merged into 310 afterwards); jobs that
start after the data month are not registered; persons with no registered job are unknown.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapters.population import Employer, Job, Person, Population

MATERNITY_LAST = date(2019, 12, 1)


def month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def data_month(population: Population) -> date:
    return population.as_of.replace(day=1)


def registered_jobs(person: Person, population: Population) -> list[Job]:
    return [job for job in person.jobs if job.start <= data_month(population)]


def is_insured(person: Person, population: Population) -> bool:
    return bool(registered_jobs(person, population))


def contributing_job(person: Person, population: Population) -> Job | None:
    return next((job for job in registered_jobs(person, population) if job.end is None), None)


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


def enrolment(person: Person, population: Population) -> dict[str, Any]:
    """Dataset 303001001-000001 for an insured person, as it stands before any termination."""
    jobs = registered_jobs(person, population)
    as_of = data_month(population)
    current = contributing_job(person, population)
    latest_job = current or max(jobs, key=lambda job: job.start)
    employer = population.employer(latest_job.employer)
    return {
        "name": person.name,
        "insured_status": "1" if current else "2",
        "employer_name": employer.name,
        "employer_uscc": employer.uscc,
        "insurance_types": ["110", "210", "310", "410"] if current else [],
        "first_contribution_month": month(min(job.start for job in jobs)),
        "contribution_months": sum(months_between(job.start, job.end or as_of) for job in jobs),
        "latest_contribution_month": month(max(job.end or as_of for job in jobs)),
        "latest_contribution_base": f"{latest_job.contribution_base}.00",
    }


def history(person: Person, population: Population) -> list[dict[str, str]]:
    """The certificate's spans: maximal runs of consecutive months with one type, base and employer."""
    as_of = data_month(population)
    raw = []
    for job in registered_jobs(person, population):
        last = job.end or as_of
        name = population.employer(job.employer).name
        for kind in ("110", "210", "310", "410"):
            raw.append((kind, job.start, last, job.contribution_base, name))
        if job.start <= MATERNITY_LAST:
            raw.append(("510", job.start, min(last, MATERNITY_LAST), job.contribution_base, name))
    raw.sort(key=lambda span: (span[0], span[1]))
    merged: list[list[Any]] = []
    for kind, first, last, base, name in raw:
        previous = merged[-1] if merged else None
        if (
            previous
            and (previous[0], previous[3], previous[4]) == (kind, base, name)
            and months_between(previous[2], first) == 2  # first is the month right after previous's last
        ):
            previous[2] = last
            continue
        merged.append([kind, first, last, base, name])
    merged.sort(key=lambda span: (span[1], span[0]))
    return [
        {
            "from": month(first),
            "to": month(last),
            "insurance_type": kind,
            "base": f"{base}.00",
            "employer_name": name,
        }
        for kind, first, last, base, name in merged
    ]


def certificate(person: Person, population: Population) -> dict[str, Any]:
    """Dataset 303002001-000001 and the change feed's fields."""
    return {
        "name": person.name,
        "contribution_history": history(person, population),
        "contribution_months": enrolment(person, population)["contribution_months"],
        "as_of_month": month(data_month(population)),
    }


def employer_record(employer: Employer, persons: list[Person], population: Population) -> dict[str, Any]:
    """Dataset 303003001-000001."""
    insured = sum(
        1
        for person in persons
        if (job := contributing_job(person, population)) is not None and job.employer == employer.index
    )
    return {
        "employer_name": employer.name,
        "si_number": employer.si_number,
        "insured_count": insured,
        "status": "1" if insured else "2",
    }
