"""Which results of the transform's one `dbt build` each node task reports, and the failure it raises."""

from __future__ import annotations

from flywheel.jobs.dbt_build import NodeResult, failure_message, results_for, selector

STG = "model.flywheel.stg_hotels__bookings"
FCT = "model.flywheel.fct_bookings"


def _result(unique_id: str, status: str, parents: tuple[str, ...] = (), **kw: object) -> NodeResult:
    kind, _, name = unique_id.split(".", 2)
    return NodeResult(
        unique_id=unique_id,
        name=str(kw.get("name", name)),
        resource_type=kind,
        status=status,
        message=str(kw.get("message", "")),
        failures=kw.get("failures"),  # type: ignore[arg-type]
        seconds=0.1,
        parents=parents,
    )


BUILD = [
    _result(STG, "success"),
    _result("test.flywheel.not_null_stg_hotels__bookings_hotel.1a", "fail", (STG,), name="not_null_hotel", failures=1),
    _result("unit_test.flywheel.stg_hotels__bookings.types", "pass", (STG,)),
    _result(FCT, "skipped"),
    _result("test.flywheel.relationships_ml_fct.2b", "pass", ("model.flywheel.ml_booking_features", FCT)),
]


def test_a_model_task_reports_the_model_and_its_own_tests_not_tests_of_several_models():
    assert [r.unique_id for r in results_for(STG, BUILD)] == [
        STG,
        "test.flywheel.not_null_stg_hotels__bookings_hotel.1a",
        "unit_test.flywheel.stg_hotels__bookings.types",
    ]
    assert [r.unique_id for r in results_for(FCT, BUILD)] == [FCT]  # the relationships test has its own task
    detached = "test.flywheel.relationships_ml_fct.2b"
    assert [r.unique_id for r in results_for(detached, BUILD)] == [detached]


def test_the_failure_names_the_model_the_test_and_the_rows_and_says_what_to_do():
    message = failure_message("stg_hotels__bookings", results_for(STG, BUILD))
    assert message is not None
    assert message.startswith("dbt stg_hotels__bookings: test not_null_hotel fail (1 failing rows)")
    assert "clear this task" in message
    assert failure_message("fct_bookings", results_for(FCT, BUILD)) == (
        "dbt fct_bookings: model fct_bookings skipped. The task log has dbt's lines for it; fix the model or the "
        "data, then clear this task (it rebuilds the node alone) or the dbt.build task (it rebuilds everything)."
    )
    passing = [_result(FCT, "success"), _result("test.flywheel.x.1", "warn", (FCT,))]
    assert failure_message("fct_bookings", passing) is None  # a warning passes


def test_a_retried_node_builds_itself_and_its_own_tests_again():
    assert selector(STG, "model", "stg_hotels__bookings") == [
        "--select",
        "stg_hotels__bookings",
        "--indirect-selection",
        "cautious",
    ]
    assert selector("source.flywheel.hotels.hotel_bookings", "source", "hotel_bookings") == [
        "--select",
        "source:hotels.hotel_bookings",
    ]
    assert selector("test.flywheel.relationships_x.2b", "test", "relationships_x") == ["--select", "relationships_x"]


def test_a_result_survives_xcom():
    result = BUILD[1]
    assert NodeResult.from_dict(result.to_dict()) == result
