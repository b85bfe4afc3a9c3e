"""Every row of docs/domain.md §0 (the CN defaults the engine ships with) is a setting with that default."""

from __future__ import annotations

import pytest

from engine.config import Settings

# docs/domain.md §0 key → (Settings attribute, the default the table gives)
DOMAIN_SETTINGS = {
    "complaint.decision_days.simple": ("complaint_decision_days_simple", 15),
    "complaint.decision_days.complex": ("complaint_decision_days_complex", 30),
    "complaint.decision_days.special_max": ("complaint_decision_days_special_max", 60),
    "complaint.pause_for_external_appraisal": ("complaint_pause_for_external_appraisal", True),
    "complaint.review.apply_window_days": ("complaint_review_apply_window_days", 30),
    "complaint.review.decision_days": ("complaint_review_decision_days", 30),
    "complaint.ack_target": ("complaint_ack_target_workdays", 1),
    "complaint.group_face_to_face_max_reps": ("complaint_group_face_to_face_max_reps", 5),
    "complaint.major_group_threshold": ("complaint_major_group_threshold", 20),
    "complaint.classification": ("complaint_classification", "JR/T 0169-2018"),
    "suitability.levels": ("suitability_levels", 5),
    "suitability.match": ("suitability_match", "product_level<=customer_level;higher_rating"),
    "suitability.assessment_valid_months": ("suitability_assessment_valid_months", 12),
    "suitability.elderly_special_care_age": ("suitability_elderly_special_care_age", 65),
    "elderly.definition_age": ("elderly_definition_age", 60),
    "cooling_off.private_wmp_hours": ("cooling_off_private_wmp_hours", 24),
    "cooling_off.insurance_days": ("cooling_off_insurance_days", 15),
    "double_recording.retention": ("double_recording_retention_months_after_end", 6),
    "marketing.requires_opt_in": ("marketing_requires_opt_in", True),
    "marketing.contact_window_local": ("contact_window", ("09:00", "20:00")),
    "marketing.max_calls_per_number_24h": ("cap_marketing_per_day", 1),
    "retention.aml_kyc_years": ("retention_aml_kyc_years", 10),
    "retention.network_logs_months": ("retention_network_logs_months", 6),
    "retention.pipia_years": ("retention_pipia_years", 3),
    "holidays.source": ("holidays_source", "chinese_calendar"),
}


@pytest.mark.parametrize("key", sorted(DOMAIN_SETTINGS))
def test_domain_default(key):
    attribute, default = DOMAIN_SETTINGS[key]
    assert getattr(Settings(), attribute) == default


def test_marketing_opt_in_can_be_switched_off_but_an_opt_out_still_stops_marketing():
    from datetime import UTC, datetime

    from engine.outbox.policy import Recent, Recipient, Sendable, decide

    def recipient(consents):
        return Recipient("active", False, "sms", frozenset({"sms"}), consents)

    offer = Sendable("marketing", "sms", False, False, ("sms",))
    noon = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)
    loose = Settings(marketing_requires_opt_in=False)
    assert decide(offer, recipient({}), Recent(0, 0, 0), noon, Settings()).reason == "no_marketing_consent"
    assert decide(offer, recipient({}), Recent(0, 0, 0), noon, loose).action == "send"
    refused = recipient({("all", "marketing"): False})
    assert decide(offer, refused, Recent(0, 0, 0), noon, loose).reason == "opted_out"
