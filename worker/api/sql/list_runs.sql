-- Newest first, filtered; a NULL parameter is no filter. ($7, $8) is the cursor: the
-- (created_at, id) of the previous page's last run. $10 is an ILIKE pattern on config.label
-- (`run_filter.contains_pattern`). Served by ix_runs_created_at_id.
SELECT * FROM runs
WHERE ($1::run_status IS NULL OR status = $1::run_status)
  AND ($2::uuid IS NULL OR strategy_id = $2::uuid)
  AND ($3::uuid IS NULL OR dataset_id = $3::uuid)
  AND ($4::run_mode IS NULL OR mode = $4::run_mode)
  AND ($5::timestamptz IS NULL OR created_at < $5::timestamptz)
  AND ($6::timestamptz IS NULL OR created_at >= $6::timestamptz)
  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7::timestamptz, $8::uuid))
  AND ($10::text IS NULL OR config ->> 'label' ILIKE $10::text ESCAPE '\')
ORDER BY created_at DESC, id DESC
LIMIT $9;
