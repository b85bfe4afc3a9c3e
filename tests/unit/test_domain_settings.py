"""Every row of docs/domain.md §0 (the CN defaults the engine ships with) is a setting with that default."""

from __future__ import annotations

import pytest

from engine.config import ContactSettings, Settings

# docs/domain.md §0 key → (Settings area.attribute, the default the table gives)
DOMAIN_SETTINGS = {
    "complaint.decision_days.simple": ("complaints.decision_days_simple", 15),
    "complaint.decision_days.complex": ("complaints.decision_days_complex", 30),
    "complaint.decision_days.special_max": ("complaints.decision_days_special_max", 60),
    "complaint.pause_for_external_appraisal": ("complaints.pause_for_external_appraisal", True),
    "complaint.review.apply_window_days": ("complaints.review_apply_window_days", 30),
    "complaint.review.decision_days": ("complaints.review_decision_days", 30),
    "complaint.ack_target": ("complaints.ack_target_workdays", 1),
    "complaint.group_face_to_face_max_reps": ("complaints.group_face_to_face_max_reps", 5),
    "complaint.major_group_threshold": ("complaints.major_group_threshold", 20),
    "suitability.assessment_valid_months": ("sales.assessment_valid_months", 12),
    "suitability.elderly_special_care_age": ("sales.elderly_special_care_age", 65),
    "elderly.definition_age": ("sales.elderly_definition_age", 60),
    "cooling_off.private_wmp_hours": ("sales.cooling_off_private_wmp_hours", 24),
    "cooling_off.insurance_days": ("sales.cooling_off_insurance_days", 15),
    "double_recording.retention": ("retention.double_recording_months_after_end", 6),
    "marketing.requires_opt_in": ("contact.marketing_requires_opt_in", True),
    "marketing.contact_window_local": ("contact.window", ("09:00", "20:00")),
    "marketing.max_calls_per_number_24h": ("contact.cap_marketing_per_day", 1),
    "retention.aml_kyc_years": ("retention.aml_kyc_years", 10),
    "retention.network_logs_months": ("retention.network_logs_months", 6),
    "retention.pipia_years": ("retention.pipia_years", 3),
}


@pytest.mark.parametrize("key", sorted(DOMAIN_SETTINGS))
def test_domain_default(key):
    path, default = DOMAIN_SETTINGS[key]
    area, attribute = path.split(".")
    assert getattr(getattr(Settings(), area), attribute) == default


def test_marketing_opt_in_can_be_switched_off_but_an_opt_out_still_stops_marketing():
    from datetime import UTC, datetime

    from engine.outbox.policy import Recent, Recipient, Sendable, decide

    def recipient(consents):
        return Recipient("active", False, "sms", frozenset({"sms"}), consents)

    offer = Sendable("marketing", "sms", False, False, ("sms",))
    noon = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)
    loose = Settings(contact=ContactSettings(marketing_requires_opt_in=False))
    assert decide(offer, recipient({}), Recent(0, 0, 0), noon, Settings()).reason == "no_marketing_consent"
    assert decide(offer, recipient({}), Recent(0, 0, 0), noon, loose).action == "send"
    refused = recipient({("all", "marketing"): False})
    assert decide(offer, refused, Recent(0, 0, 0), noon, loose).reason == "opted_out"
