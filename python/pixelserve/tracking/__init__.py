"""ilastik's tracking (Tracking with Learning, Conservation and Animal Tracking), reproduced.

The engine, stage by stage (a workflow module calls them in this order):

1. `project.tracking.read_tracking_project`: parameters, feature selections, classifiers.
2. per frame, from the objects and their features (`pixelserve.objects`, or the project's
   cached features): `detections.classifier_probabilities` for the object count and division
   classifiers (division features first: `division_features.cell_division_features`), then
   `detections.frame_detections`; `Detections.concatenate` joins the frames.
3. `graph.build_candidate_graph`, then `graph.contract_tracklets` (withTracklets) or
   `graph.single_tracklets`.
4. `energies.energy_features`, then `energies.tracking_model` with the solver weights
   (`TrackingParameters.solver_weights()`, detection weight 10 as ilastik).
5. `solvers.solve` (exact ILP, or the LP-based solver for large models; progress and cancel).
6. `lineage.solved_graph`; `mergers.resolve_mergers` when maxObj > 1 and merger resolution is
   on; `lineage.compute_lineage`.
7. exports: `relabel` for the label sources (Object-Identities, Tracking-Result,
   Merger-Result) and `plugins.export_plugin` for the `--export_plugin` formats.

`pipeline.track_detections` runs stages 3-6 on detections.
"""
