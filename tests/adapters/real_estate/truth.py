"""What the register must answer, computed from the population (the ground truth)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapters.mapping import to_json_value
from adapters.population import Household, Person, Population, Property


def title_items(prop: Property) -> dict[str, Any]:
    """The 304001001 items of one title."""
    return {
        "unit_number": prop.unit_number,
        "certificate_no": prop.certificate_no,
        "location": prop.location,
        "use": prop.use,
        "area": to_json_value(prop.area),
        "right_type": prop.right_type,
        "co_ownership": prop.co_ownership,
        "owners": [
            {"name": o.name, "id_number": o.citizen_id, "share": to_json_value(o.share)} for o in prop.owners
        ],
        "registered_on": prop.registered_on.isoformat(),
        "mortgaged": prop.mortgaged,
        "mortgagee": prop.mortgagee,
        "seized": prop.seized,
        "status": "2" if prop.cancelled_on else "1",
    }


def holdings(person: Person, household: Household) -> dict[str, Any]:
    """The 304002001 items of one person: live titles only, by registration date then unit."""
    owned = []
    for prop in household.properties:
        share = next((o.share for o in prop.owners if o.citizen_id == person.citizen_id), None)
        if share is None or prop.cancelled_on is not None:
            continue
        owned.append(
            (
                prop.registered_on,
                prop.unit_number,
                {
                    "unit_number": prop.unit_number,
                    "certificate_no": prop.certificate_no,
                    "location": prop.location,
                    "area": to_json_value(prop.area),
                    "use": prop.use,
                    "share": to_json_value(share),
                    "mortgaged": prop.mortgaged,
                    "seized": prop.seized,
                },
            )
        )
    properties = [entry for _, _, entry in sorted(owned, key=lambda o: (o[0], o[1]))]
    return {"has_property": bool(properties), "property_count": len(properties), "properties": properties}


def history(person: Person, household: Household) -> dict[str, Any] | None:
    """The 304002002 items of one person (every title ever held), None when never an owner."""
    held = sorted(
        (
            (prop, share)
            for prop in household.properties
            for share in [next((o.share for o in prop.owners if o.citizen_id == person.citizen_id), None)]
            if share is not None
        ),
        key=lambda pair: (pair[0].registered_on, pair[0].unit_number),
    )
    if not held:
        return None
    return {
        "title_count": len(held),
        "first_registered_on": held[0][0].registered_on.isoformat(),
        "titles": [
            {
                "unit_number": prop.unit_number,
                "certificate_no": prop.certificate_no,
                "location": prop.location,
                "share": to_json_value(share),
                "registered_on": prop.registered_on.isoformat(),
                "status": "2" if prop.cancelled_on else "1",
                "cancelled_on": to_json_value(prop.cancelled_on),
            }
            for prop, share in held
        ],
    }


def properties(population: Population) -> Iterator[Property]:
    for household in population.households():
        yield from household.properties


def persons(population: Population) -> Iterator[tuple[Person, Household]]:
    for household in population.households():
        for person in household.members:
            yield person, household
