SELECT * FROM strategies WHERE id = $1;
