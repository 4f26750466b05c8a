-- The edges into and out of the steps $1, looked up by key in both
-- directions whatever the statistics say. (A correlated subquery per step
-- was planned from the edges' statistics; in a table dominated by one wide
-- task it scanned every edge for every step: 14 s for 10,000 steps.)
select from_step_id, to_step_id
from tasker.workflow_step_edges
where to_step_id = any($1) or from_step_id = any($1)
