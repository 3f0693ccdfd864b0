/* Thrift compact protocol encoder (apache/thrift doc/specs/thrift-compact-protocol.md),
 * just what the Parquet footer and page headers need: structs with field-id deltas,
 * zigzag varints, binary, lists, and bools folded into the field header.
 *
 * The encoder appends to a caller-owned buf. The first failure (out of memory, cap,
 * nesting too deep) is kept in st/err and every later call does nothing, so a caller
 * can encode a whole structure and check pq_thrift_status once at the end. */
#ifndef TA_PQ_THRIFT_H
#define TA_PQ_THRIFT_H

#include <stdint.h>

#include "util/buf.h"

/* Compact protocol type ids, as they appear in field headers and list headers. */
enum {
    PQ_TT_BOOL_TRUE = 1,
    PQ_TT_BOOL_FALSE = 2,
    PQ_TT_BYTE = 3,
    PQ_TT_I16 = 4,
    PQ_TT_I32 = 5,
    PQ_TT_I64 = 6,
    PQ_TT_DOUBLE = 7,
    PQ_TT_BINARY = 8,
    PQ_TT_LIST = 9,
    PQ_TT_SET = 10,
    PQ_TT_MAP = 11,
    PQ_TT_STRUCT = 12,
};

#define PQ_THRIFT_MAX_DEPTH 16

typedef struct pq_thrift {
    buf *out;
    int depth;                             /* open structs; 0 at the top level */
    int16_t last[PQ_THRIFT_MAX_DEPTH + 1]; /* last field id written at each depth */
    status st;
    errinfo *err;
} pq_thrift;

void pq_thrift_init(pq_thrift *t, buf *out, errinfo *err);
status pq_thrift_status(const pq_thrift *t);

/* Raw pieces, exposed for tests and for list elements. */
void pq_thrift_varint(pq_thrift *t, uint64_t v);
void pq_thrift_i32(pq_thrift *t, int32_t v); /* zigzag varint */
void pq_thrift_i64(pq_thrift *t, int64_t v); /* zigzag varint */
void pq_thrift_binary(pq_thrift *t, const void *p, size_t n);
/* A list header: size then element type. Elements follow with the raw calls, or
 * pq_thrift_struct_begin/end for struct elements. */
void pq_thrift_list_begin(pq_thrift *t, int elem_type, size_t n);

/* Structs: begin opens a new field-id context, end writes the stop byte. Top-level
 * structs and list elements use these directly. */
void pq_thrift_struct_begin(pq_thrift *t);
void pq_thrift_struct_end(pq_thrift *t);

/* Fields of the struct that is open. Ids must increase within a struct for the
 * short (delta) form; other orders are still encoded correctly in the long form. */
void pq_thrift_field(pq_thrift *t, int16_t id, int type);
void pq_thrift_field_bool(pq_thrift *t, int16_t id, int v);
void pq_thrift_field_i8(pq_thrift *t, int16_t id, int8_t v);
void pq_thrift_field_i16(pq_thrift *t, int16_t id, int16_t v);
void pq_thrift_field_i32(pq_thrift *t, int16_t id, int32_t v);
void pq_thrift_field_i64(pq_thrift *t, int16_t id, int64_t v);
void pq_thrift_field_binary(pq_thrift *t, int16_t id, const void *p, size_t n);
void pq_thrift_field_string(pq_thrift *t, int16_t id, const char *s);
/* A struct-typed field: writes the header and opens the struct; close it with
 * pq_thrift_struct_end. */
void pq_thrift_field_struct_begin(pq_thrift *t, int16_t id);
/* A list-typed field: writes the header and the list header. */
void pq_thrift_field_list_begin(pq_thrift *t, int16_t id, int elem_type, size_t n);

#endif
