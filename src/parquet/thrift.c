/* Thrift compact protocol encoder: see thrift.h. */
#include "parquet/thrift.h"

#include <string.h>

void pq_thrift_init(pq_thrift *t, buf *out, errinfo *err)
{
    memset(t, 0, sizeof *t);
    t->out = out;
    t->err = err;
}

status pq_thrift_status(const pq_thrift *t)
{
    return t->st;
}

static void put(pq_thrift *t, const void *p, size_t n)
{
    if (t->st != ST_OK)
        return;
    t->st = buf_append(t->out, p, n, t->err);
}

static void put_byte(pq_thrift *t, uint8_t b)
{
    put(t, &b, 1);
}

void pq_thrift_varint(pq_thrift *t, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    put(t, tmp, n);
}

/* Zigzag maps signed to unsigned so that small magnitudes stay short; done in
 * unsigned arithmetic so that the shift of a negative value is defined. */
static uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(0 - (int64_t)((uint64_t)v >> 63));
}

void pq_thrift_i32(pq_thrift *t, int32_t v)
{
    pq_thrift_varint(t, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v < 0 ? -1 : 0)));
}

void pq_thrift_i64(pq_thrift *t, int64_t v)
{
    pq_thrift_varint(t, zigzag64(v));
}

void pq_thrift_binary(pq_thrift *t, const void *p, size_t n)
{
    pq_thrift_varint(t, n);
    if (n)
        put(t, p, n);
}

void pq_thrift_list_begin(pq_thrift *t, int elem_type, size_t n)
{
    if (n < 15) {
        put_byte(t, (uint8_t)((n << 4) | (size_t)elem_type));
    } else {
        put_byte(t, (uint8_t)(0xF0 | elem_type));
        pq_thrift_varint(t, n);
    }
}

void pq_thrift_struct_begin(pq_thrift *t)
{
    if (t->st != ST_OK)
        return;
    if (t->depth >= PQ_THRIFT_MAX_DEPTH) {
        t->st = err_set(t->err, ST_INTERNAL, "thrift structs nested deeper than %d",
                        PQ_THRIFT_MAX_DEPTH);
        return;
    }
    t->depth++;
    t->last[t->depth] = 0;
}

void pq_thrift_struct_end(pq_thrift *t)
{
    if (t->st != ST_OK)
        return;
    if (t->depth <= 0) {
        t->st = err_set(t->err, ST_INTERNAL, "thrift struct end without a begin");
        return;
    }
    put_byte(t, 0); /* stop */
    t->depth--;
}

void pq_thrift_field(pq_thrift *t, int16_t id, int type)
{
    if (t->st != ST_OK)
        return;
    int16_t last = t->last[t->depth];
    if (id > last && id - last <= 15) {
        put_byte(t, (uint8_t)(((id - last) << 4) | type));
    } else {
        put_byte(t, (uint8_t)type);
        pq_thrift_i32(t, id); /* an i16 as a zigzag varint */
    }
    t->last[t->depth] = id;
}

void pq_thrift_field_bool(pq_thrift *t, int16_t id, int v)
{
    pq_thrift_field(t, id, v ? PQ_TT_BOOL_TRUE : PQ_TT_BOOL_FALSE);
}

void pq_thrift_field_i8(pq_thrift *t, int16_t id, int8_t v)
{
    pq_thrift_field(t, id, PQ_TT_BYTE);
    put_byte(t, (uint8_t)v);
}

void pq_thrift_field_i16(pq_thrift *t, int16_t id, int16_t v)
{
    pq_thrift_field(t, id, PQ_TT_I16);
    pq_thrift_i32(t, v);
}

void pq_thrift_field_i32(pq_thrift *t, int16_t id, int32_t v)
{
    pq_thrift_field(t, id, PQ_TT_I32);
    pq_thrift_i32(t, v);
}

void pq_thrift_field_i64(pq_thrift *t, int16_t id, int64_t v)
{
    pq_thrift_field(t, id, PQ_TT_I64);
    pq_thrift_i64(t, v);
}

void pq_thrift_field_binary(pq_thrift *t, int16_t id, const void *p, size_t n)
{
    pq_thrift_field(t, id, PQ_TT_BINARY);
    pq_thrift_binary(t, p, n);
}

void pq_thrift_field_string(pq_thrift *t, int16_t id, const char *s)
{
    pq_thrift_field_binary(t, id, s, strlen(s));
}

void pq_thrift_field_struct_begin(pq_thrift *t, int16_t id)
{
    pq_thrift_field(t, id, PQ_TT_STRUCT);
    pq_thrift_struct_begin(t);
}

void pq_thrift_field_list_begin(pq_thrift *t, int16_t id, int elem_type, size_t n)
{
    pq_thrift_field(t, id, PQ_TT_LIST);
    pq_thrift_list_begin(t, elem_type, n);
}
