"""The CRM of the simulated shop: its customers, and the identifiers orders carry.

Every account holder is a CRM customer under the CRM's own id (not the site's user id: the
two systems never shared one), with the email the messages go to, typed as people type it
(capitals, stray spaces, sometimes missing), and a French mobile number for some, in any of
the ways people write one. Online orders carry the buyer's checkout email; a store or
call-centre sale of an account holder carries the customer id (the loyalty card); a login
carries the email signed in with. Hashing
these at load and matching them is how parcours links a CRM customer to their devices;
`crm_truth` names each customer's true person. Draws come from their own stream: with or
without the CRM, the rest of the data is the same draw for draw.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEGMENTS = np.array(["premium", "mass", "young", "family"])  # a person's CRM attributes
TIERS = np.array(["none", "silver", "gold", "platinum"])
REGIONS = np.array(["idf", "aura", "paca", "occitanie", "hdf", "grand_est"])
EMAIL_MISSING, PHONE_MISSING = 0.05, 0.40
SECOND = np.array(list("01245678"))  # French mobile ranges in use: 060-062, 064-068 (ARCEP)
PHONE_STYLES = ("0{d}", "0{s}", "+33{d}", "+33 {s}")


def segment(person: np.ndarray) -> np.ndarray:
    return SEGMENTS[person % len(SEGMENTS)]


def tier(person: np.ndarray) -> np.ndarray:
    """The loyalty tier, independent of the segment (every tier in every segment)."""
    return TIERS[(person // len(SEGMENTS)) % len(TIERS)]


def attributes_json(person: np.ndarray) -> pa.Array:
    """A person's CRM attributes as the JSON object files carry (on the CRM and on sales)."""
    return pc.binary_join_element_wise(
        '{"segment": "', pa.array(segment(person)),
        '", "loyalty_tier": "', pa.array(tier(person)),
        '", "region": "', pa.array(REGIONS[(person * 13) % len(REGIONS)]), '"}', "")


def customer_id(person: np.ndarray) -> np.ndarray:
    """The CRM's id of a person: a fixed shuffle of person numbers (48271 is prime to 10^8)."""
    return np.char.add("C", np.char.zfill(((person.astype(np.int64) * 48271) % 10**8).astype(str), 8))


def email(person: np.ndarray) -> np.ndarray:
    return np.char.add(np.char.add("client", person.astype(str)), "@example.com")


def _mobile(person: np.ndarray) -> np.ndarray:
    """Nine national digits after the 0: 6, a range in use, seven from the person number."""
    rest = np.char.zfill(((person // len(SECOND)) % 10**7).astype(str), 7)
    return np.char.add(np.char.add("6", SECOND[person % len(SECOND)]), rest)


def _typed(rng: np.random.Generator, text: np.ndarray) -> np.ndarray:
    """As a person types it into a form: sometimes capitalised, sometimes with spaces around."""
    n = len(text)
    out = np.where(rng.random(n) < 0.3, np.char.capitalize(text), text)
    return np.where(rng.random(n) < 0.1, np.char.add(np.char.add(" ", out), " "), out)


def _written(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """A mobile number (nine national digits) in one of the ways people write it."""
    spaced = np.array([f"{d[0]} {d[1:3]} {d[3:5]} {d[5:7]} {d[7:9]}" for d in digits.tolist()], dtype=str)
    style = rng.integers(0, len(PHONE_STYLES), size=len(digits))
    return np.array([PHONE_STYLES[k].format(d=d, s=s) for k, d, s in
                     zip(style.tolist(), digits.tolist(), spaced.tolist(), strict=True)], dtype=str)


def customers(rng: np.random.Generator, first: int, account: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """(the CRM extract, crm_truth): one customer per account holder of the chunk."""
    person = first + np.flatnonzero(account)
    n = len(person)
    mail = _typed(rng, email(person))
    phone = _written(rng, _mobile(person))
    ids = customer_id(person)
    crm = pa.table({
        "customer_id": pa.array(ids),
        "email": pa.array(mail, mask=rng.random(n) < EMAIL_MISSING),
        "phone": pa.array(phone, mask=rng.random(n) < PHONE_MISSING),
        "attributes": attributes_json(person),
    })
    return crm, pa.table({"customer_id": pa.array(ids), "person": pa.array(person)})


def with_identifiers(rng: np.random.Generator, conversions: pa.Table, buyer: np.ndarray,
                     account: np.ndarray, first: int) -> pa.Table:
    """Conversions with the checkout email of online orders (an account holder's, else a
    guest's address no CRM knows) and the customer id of account holders' offline sales."""
    person = first + buyer
    online = np.asarray(pc.equal(conversions["origin"], "online"))
    guest = np.char.add(np.char.add("guest", person.astype(str)), "@example.net")
    mail = _typed(rng, np.where(account[buyer], email(person), guest))
    return conversions.append_column("email", pa.array(mail, mask=~online)).append_column(
        "customer_id", pa.array(customer_id(person), mask=online | ~account[buyer]))


def with_login(rng: np.random.Generator, identities: pa.Table) -> pa.Table:
    """Logins with the email the user signed in with (user ids are "u<person>")."""
    person = np.asarray(pc.utf8_slice_codeunits(identities["user_id"], 1)).astype(np.int64)
    return identities.append_column("email", pa.array(_typed(rng, email(person))))
