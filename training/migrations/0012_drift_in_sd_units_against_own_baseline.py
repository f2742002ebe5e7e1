"""Drift is judged in SD units against the holder's own baseline at certification.

- Each rule's CUSUM slack and threshold were raw points of total deviation. They have no
  meaning in SD units, and the old defaults (0.5, 4) false-alarmed for most raters, so every
  stored value is cleared: the rule takes the new defaults (k 0.25, h 16 SD). A rule whose
  admin had set custom values gets an audit event "certification_rule.drift_units_migrated"
  with the old values, so they can set SD-unit ones on purpose. The rolling item-agreement
  window is gone (the agreement CUSUM now runs per case); its value is kept in the same event.
- Every certificate gets its baseline from the exam that certified it (mean and SD of the
  signed total deviations and of the per-case item agreement), with the stated pooled SDs
  (1.9 points, 0.13) as the shrinkage target and fallback; without usable exam evidence the
  baseline says why, and its mean is the reference (deviation) or the rule's item-agreement
  threshold.
- Open drift alerts raised by the raw-point CUSUM are resolved with a note, and their
  certificates stop showing "recalibration due" unless a recalibration is overdue; the next
  certification_tick judges the same ratings with the new method.
"""

from django.db import migrations, models
from django.utils import timezone

from training.reliability.drift import drift_baseline

POOLED = {"deviation": 1.9, "agreement": 0.13}
NOTE = ("Closed when drift monitoring moved to SD units against the holder's own baseline: "
        "raised by the retired raw-point CUSUM, which false-alarmed for most raters. The "
        "ratings are judged again by the new method.")


def _event(AuditEvent, *, org_id, obj_type, obj_id, action, before, after, now):
    AuditEvent.objects.create(at=now, actor=None, actor_repr="system",
                              organization_id=org_id, object_type=obj_type,
                              object_id=str(obj_id), action=action, before=before,
                              after=after)


def forwards(apps, schema_editor):
    CertificationRule = apps.get_model("training", "CertificationRule")
    Certificate = apps.get_model("training", "Certificate")
    DriftAlert = apps.get_model("training", "DriftAlert")
    Rating = apps.get_model("training", "Rating")
    AuditEvent = apps.get_model("training", "AuditEvent")
    ReferenceItemScore = apps.get_model("vignettes", "ReferenceItemScore")
    now = timezone.now()

    for rule in CertificationRule.objects.exclude(cusum_slack__isnull=True,
                                                  cusum_threshold__isnull=True,
                                                  agreement_window__isnull=True):
        before = {"cusum_slack_points": rule.cusum_slack,
                  "cusum_threshold_points": rule.cusum_threshold,
                  "agreement_window": rule.agreement_window}
        rule.cusum_slack = rule.cusum_threshold = None
        rule.save(update_fields=["cusum_slack", "cusum_threshold"])
        _event(AuditEvent, org_id=rule.organization_id, obj_type="training.CertificationRule",
               obj_id=rule.pk, action="certification_rule.drift_units_migrated", before=before,
               after={"cusum_slack": None, "cusum_threshold": None,
                      "note": "cleared: the new defaults in SD units apply"}, now=now)

    for cert in Certificate.objects.select_related("decision__rule"):
        ratings = list(Rating.objects.filter(
            attempt_id=cert.decision.attempt_id, instrument_version_id=cert.instrument_version_id,
            applicable=True, total__isnull=False, submitted_at__isnull=False,
            reference_scoring__applicable=True).order_by("pk"))
        refs = {}
        for ref_id, code, value in ReferenceItemScore.objects.filter(
                reference_scoring_id__in={r.reference_scoring_id for r in ratings}
        ).values_list("reference_scoring_id", "item__code", "value"):
            refs.setdefault(ref_id, {})[code] = value
        deviations, agreements = [], []
        for rating in ratings:
            items = refs.get(rating.reference_scoring_id, {})
            codes = rating.codes or {}
            deviations.append(rating.total - sum(v for v in items.values() if v is not None))
            agreements.append(sum(1 for k, v in items.items() if codes.get(k) == v)
                              / len(items) if items else 1.0)
        cert.drift_baseline = {
            "deviation": drift_baseline(deviations, pooled_sd=POOLED["deviation"]).as_dict(),
            "agreement": drift_baseline(
                agreements, pooled_sd=POOLED["agreement"],
                fallback_mean=cert.decision.rule.item_agreement if cert.decision.rule else 0.85,
            ).as_dict(),
        }
        cert.save(update_fields=["drift_baseline"])

    touched = set()
    for alert in DriftAlert.objects.exclude(status="resolved"):
        if (alert.evidence or {}).get("method") == "standardised-cusum":
            continue
        alert.status = "resolved"
        alert.resolved_at = now
        alert.note = NOTE
        alert.save(update_fields=["status", "resolved_at", "note"])
        _event(AuditEvent, org_id=alert.organization_id, obj_type="training.DriftAlert",
               obj_id=alert.pk, action="drift.alert_resolved", before={"status": "open"},
               after={"status": "resolved", "note": NOTE}, now=now)
        touched.add(alert.certificate_id)
    for cert in Certificate.objects.filter(pk__in=touched, recalibration_flagged_at__isnull=False):
        if DriftAlert.objects.filter(certificate=cert).exclude(status="resolved").exists():
            continue
        if cert.recalibrations.filter(overdue_at__isnull=False,
                                      completed_at__isnull=True).exists():
            continue
        before = {"recalibration_flagged": True, "reason": cert.recalibration_reason}
        cert.recalibration_flagged_at = None
        cert.recalibration_reason = ""
        cert.save(update_fields=["recalibration_flagged_at", "recalibration_reason"])
        _event(AuditEvent, org_id=cert.organization_id, obj_type="training.Certificate",
               obj_id=cert.pk, action="certificate.recalibration_cleared", before=before,
               after={"recalibration_flagged": False, "reason": ""}, now=now)


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0011_drop_unused_knox_authtoken_table'),
    ]

    operations = [
        migrations.AddField(
            model_name='certificate',
            name='drift_baseline',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name='certificationrule',
            name='cusum_slack',
            field=models.FloatField(blank=True, help_text="Drift CUSUM slack k, in SD units of the holder's own deviations (empty: 0.25).", null=True),
        ),
        migrations.AlterField(
            model_name='certificationrule',
            name='cusum_threshold',
            field=models.FloatField(blank=True, help_text="Drift CUSUM threshold h, in SD units of the holder's own deviations (empty: 16).", null=True),
        ),
        migrations.AlterField(
            model_name='certificationrule',
            name='recalibration_interval_days',
            field=models.PositiveIntegerField(blank=True, help_text='Days between recalibrations (empty: 30).', null=True),
        ),
        migrations.AlterField(
            model_name='certificationrule',
            name='recalibration_size',
            field=models.PositiveIntegerField(blank=True, help_text='Vignettes per recalibration (empty: 10).', null=True),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='certificationrule',
            name='agreement_window',
        ),
    ]
