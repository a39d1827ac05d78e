-- Oldest first; ($1, $2) is the cursor: (created_at, id) of the previous page's last row.
SELECT * FROM strategies
WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1::timestamptz, $2::uuid))
ORDER BY created_at, id
LIMIT $3;
