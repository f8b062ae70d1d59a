"""Many rows into one table in one statement, with their new ids in the order given.

Ingest writes events, and for each event one enforcement per rule of its trigger: a hundred
rules make a hundred rows per event. SQLAlchemy keeps RETURNING in parameter order on SQLite by
running one INSERT per row, so on SQLite we do without RETURNING: inside a write transaction no
other connection writes, and on an AUTOINCREMENT table the rows of one executemany get
consecutive ids ending at `last_insert_rowid()`. Rows go to the driver as ready tuples (JSON
already encoded the way the JSON column type stores it), skipping SQLAlchemy's per-value
processing, most of the cost of a large batch otherwise. On PostgreSQL the ids are drawn from the
table's sequence first and the rows go in with asyncpg's binary COPY.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.storage.engine import json_dumps

# `n` new ids from a table's id sequence, in the order drawn.
_PG_IDS = "SELECT nextval(pg_get_serial_sequence($2, 'id')) FROM generate_series(1, $1)"


class BulkInsert:
    """A prepared multi-row insert into `table` of `columns` (every column but the id for
    `run`, which draws ids; every column to write for `write`)."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._json_list = [
            i for i, name in enumerate(self.columns) if isinstance(table.c[name].type, JSON)
        ]
        # Written out rather than compiled: SQLAlchemy compiles the columns in the table's order,
        # and the rows' values come in `columns` order.
        quote = sqlite.dialect().identifier_preparer
        names = ", ".join(quote.quote(name) for name in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        table_name = quote.format_table(table)
        # Only our own table's quoted identifiers go into the text; values are bound.
        self._sqlite_sql = f"INSERT INTO {table_name} ({names}) VALUES ({marks})"  # noqa: S608

    async def run(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> list[int]:
        """Insert `rows` (values in `columns` order); their ids, in the same order."""
        if not rows:
            return []
        id_column = self.table.c.id
        if len(rows) == 1:
            result = await conn.execute(
                self.table.insert().returning(id_column), self._as_dict(rows[0])
            )
            return [int(result.scalar_one())]
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql(self._sqlite_sql, [self._encode(row) for row in rows])
            last = int((await conn.execute(select(func.last_insert_rowid()))).scalar_one())
            return list(range(last - len(rows) + 1, last + 1))
        return await self._copy(conn, rows)

    async def write(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert `rows` whose values include their keys (the table's `id`, if it has one, is
        among `columns`): nothing to draw or return."""
        if not rows:
            return
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql(self._sqlite_sql, [self._encode(row) for row in rows])
            return
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.copy_records_to_table(
            self.table.name, records=[self._encode(row) for row in rows], columns=self.columns
        )

    async def _copy(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> list[int]:
        """PostgreSQL: ids drawn from the table's sequence, then the rows sent with COPY.

        asyncpg's binary COPY encodes the rows in C; SQLAlchemy's multi-row INSERT … RETURNING
        processed every value in Python (a hundred enforcement rows an event made it a fifth of
        the server's CPU). The COPY runs on the same connection, inside the same transaction.
        """
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        ids = [int(r[0]) for r in await driver.fetch(_PG_IDS, len(rows), self.table.name)]
        await driver.copy_records_to_table(
            self.table.name,
            records=[(i, *self._encode(row)) for i, row in zip(ids, rows, strict=True)],
            columns=("id", *self.columns),
        )
        return ids

    def _as_dict(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(self.columns, row, strict=True))

    def _encode(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not self._json_list:
            return row
        values = list(row)
        for i in self._json_list:
            if values[i] is not None:
                values[i] = json_dumps(values[i])
        return tuple(values)  # SQLAlchemy takes a list of tuples
