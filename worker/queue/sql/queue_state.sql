-- Whether claiming is paused, since when and by whom.
SELECT paused, changed_at, changed_by FROM queue_state;
