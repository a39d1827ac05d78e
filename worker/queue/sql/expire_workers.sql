-- Worker rows silent for more than $1 seconds (stopped, or died without saying so) go.
DELETE FROM workers WHERE last_beat < now() - make_interval(secs => $1);
