SELECT * FROM datasets WHERE id = $1;
