// The URLs the worker's tooling hands out are libpq URLs; the embedded server's puts the Unix
// socket directory in the query string (URL-encoded). `pg` must read them as libpq does.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';

describe('libpq connection URLs', () => {
  it('reads a socket directory from ?host=, encoded or not', () => {
    for (const url of [
      'postgresql://postgres:@/bt_test_1?host=%2Ftmp%2Fbt-pg-x%2Fpgdata',
      'postgresql://postgres:@/bt_test_1?host=/tmp/bt-pg-x/pgdata',
    ]) {
      const client = new pg.Client({ connectionString: url });
      assert.equal(client.host, '/tmp/bt-pg-x/pgdata', url);
      assert.equal(client.database, 'bt_test_1');
      assert.equal(client.user, 'postgres');
    }
  });

  it('reads a TCP URL', () => {
    const client = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    assert.equal(client.host, '127.0.0.1');
    assert.equal(client.port, 5432);
    assert.equal(client.database, 'postgres');
  });
});
