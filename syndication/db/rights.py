"""A partner's rights terms as stored: what of a partner row a `rights_changed` notice is about, and its digest.

Here, below the publisher, so that deciding whether a publish is owed (runtime.jobs.publish_needed) asks the same
question as the publisher (publish.notices.check_rights_changes) without importing the publishing stack."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from syndication.db.models import Partner


def rights_policy(partner: Partner) -> dict[str, Any]:
    """The partner's terms whose change is a `rights_changed` notice (not jobs.policy_of, the whole policy)."""
    return {"credit": partner.credit, "license_url": partner.license_url, "usage_terms": partner.usage_terms,
            "copyright": partner.copyright}


def rights_digest(policy: dict[str, Any]) -> str:
    """What PartnerPolicyState.policy_hash holds for `policy`."""
    return hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()
