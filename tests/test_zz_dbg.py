from tests.test_analysis_e2e import Story, failed  # noqa

def test_dbg(frozen, tmp_path):
    story = Story.begin(
        frozen, tmp_path, "v2.1", instanceWarmup=60, checkpointPercentages=[50, 100],
        checkpointDelay=900,
    )
    stopped = story.until(failed)
    story.settle()
    for s in story.seen:
        print(s.refresh_status, s.refresh and s.refresh["PercentageComplete"], s.status.condition("Progressing").message[:250])
    for r in story.refreshes():
        print(r["InstanceRefreshId"], r["Status"], r["Preferences"], r.get("StatusReason"))
    assert 0
