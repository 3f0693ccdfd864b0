/* Thrift compact protocol encoder: byte-for-byte against encodings derived by hand
 * from apache/thrift doc/specs/thrift-compact-protocol.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parquet/thrift.h"

typedef struct fixture {
    buf out;
    errinfo err;
    pq_thrift t;
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    buf_init(&f.out, 0);
    pq_thrift_init(&f.t, &f.out, &f.err);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    buf_dispose(&f->out);
    return 0;
}

#define EXPECT_BYTES(f, ...)                                                                       \
    do {                                                                                           \
        static const uint8_t want_[] = {__VA_ARGS__};                                              \
        assert_int_equal(pq_thrift_status(&(f)->t), ST_OK);                                        \
        assert_int_equal((f)->out.len, sizeof want_);                                              \
        assert_memory_equal((f)->out.data, want_, sizeof want_);                                   \
    } while (0)

static void test_thrift__varint(void **state)
{
    fixture *f = *state;
    /* ULEB128: 7 bits per byte, low group first, high bit = more. 300 = 0b10_0101100. */
    pq_thrift_varint(&f->t, 0);
    pq_thrift_varint(&f->t, 1);
    pq_thrift_varint(&f->t, 127);
    pq_thrift_varint(&f->t, 128);
    pq_thrift_varint(&f->t, 300);
    EXPECT_BYTES(f, 0x00, 0x01, 0x7f, 0x80, 0x01, 0xac, 0x02);
}

static void test_thrift__zigzag_i32(void **state)
{
    fixture *f = *state;
    /* zigzag: 0->0, -1->1, 1->2, -2->3, INT32_MAX->0xfffffffe, INT32_MIN->0xffffffff */
    pq_thrift_i32(&f->t, 0);
    pq_thrift_i32(&f->t, -1);
    pq_thrift_i32(&f->t, 1);
    pq_thrift_i32(&f->t, -2);
    pq_thrift_i32(&f->t, INT32_MAX);
    pq_thrift_i32(&f->t, INT32_MIN);
    EXPECT_BYTES(f, 0x00, 0x01, 0x02, 0x03, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff,
                 0x0f);
}

static void test_thrift__zigzag_i64(void **state)
{
    fixture *f = *state;
    /* INT64_MIN -> 2^64-1: nine 0xff groups of 7 bits then 0x01; 100 -> 200 = 0xc8 0x01. */
    pq_thrift_i64(&f->t, INT64_MIN);
    pq_thrift_i64(&f->t, INT64_MAX);
    pq_thrift_i64(&f->t, 100);
    pq_thrift_i64(&f->t, -1);
    EXPECT_BYTES(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xfe, 0xff, 0xff,
                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xc8, 0x01, 0x01);
}

static void test_thrift__field_short_and_long_form(void **state)
{
    fixture *f = *state;
    /* Field 1 i32 5: delta 1, type 5 -> 0x15, zigzag(5) = 10. Field 17: delta 16 does not
     * fit a nibble -> type byte 0x05, then the id as zigzag varint (34 = 0x22). Field 3
     * after 17 goes backwards -> long form again (id 3 -> 0x06). */
    pq_thrift_struct_begin(&f->t);
    pq_thrift_field_i32(&f->t, 1, 5);
    pq_thrift_field_i32(&f->t, 17, 0);
    pq_thrift_field_i32(&f->t, 3, -1);
    pq_thrift_struct_end(&f->t);
    EXPECT_BYTES(f, 0x15, 0x0a, 0x05, 0x22, 0x00, 0x05, 0x06, 0x01, 0x00);
}

static void test_thrift__bools_in_field_header(void **state)
{
    fixture *f = *state;
    /* Compact bools carry their value in the type nibble: 1 true, 2 false. */
    pq_thrift_struct_begin(&f->t);
    pq_thrift_field_bool(&f->t, 1, 1);
    pq_thrift_field_bool(&f->t, 2, 0);
    pq_thrift_field_bool(&f->t, 7, 1);
    pq_thrift_struct_end(&f->t);
    EXPECT_BYTES(f, 0x11, 0x12, 0x51, 0x00);
}

static void test_thrift__binary_i8_i16(void **state)
{
    fixture *f = *state;
    /* binary: varint length + bytes; i8: one raw byte (type 3); i16: zigzag (type 4). */
    pq_thrift_struct_begin(&f->t);
    pq_thrift_field_binary(&f->t, 4, "ab", 2);
    pq_thrift_field_i8(&f->t, 5, 32);
    pq_thrift_field_i8(&f->t, 6, -1);
    pq_thrift_field_i16(&f->t, 7, -300);
    pq_thrift_field_string(&f->t, 8, "");
    pq_thrift_struct_end(&f->t);
    EXPECT_BYTES(f, 0x48, 0x02, 'a', 'b', 0x13, 0x20, 0x13, 0xff, 0x14, 0xd7, 0x04, 0x18, 0x00,
                 0x00);
}

static void test_thrift__lists(void **state)
{
    fixture *f = *state;
    /* list<i32> [1,2,3] as field 2: field header 0x29, list header size 3 type 5 -> 0x35.
     * A list of 15 needs the long header: 0xf5 then varint 15. */
    pq_thrift_struct_begin(&f->t);
    pq_thrift_field_list_begin(&f->t, 2, PQ_TT_I32, 3);
    pq_thrift_i32(&f->t, 1);
    pq_thrift_i32(&f->t, 2);
    pq_thrift_i32(&f->t, 3);
    pq_thrift_field_list_begin(&f->t, 3, PQ_TT_BINARY, 15);
    for (int i = 0; i < 15; i++)
        pq_thrift_binary(&f->t, "x", 1);
    pq_thrift_struct_end(&f->t);
    assert_int_equal(pq_thrift_status(&f->t), ST_OK);
    static const uint8_t head[] = {0x29, 0x35, 0x02, 0x04, 0x06, 0x19, 0xf8, 0x0f, 0x01, 'x'};
    assert_int_equal(f->out.len, 5 + 3 + 15 * 2 + 1); /* list 1, list 2 header, items, stop */
    assert_memory_equal(f->out.data, head, sizeof head);
    assert_int_equal((uint8_t)f->out.data[f->out.len - 1], 0x00);
}

static void test_thrift__nested_structs_restore_field_ids(void **state)
{
    fixture *f = *state;
    /* Field 1 struct { field 1 i32 1 }, then field 2 i32 2: the inner struct starts its
     * own id context and the outer one resumes from id 1 (delta 1 again). */
    pq_thrift_struct_begin(&f->t);
    pq_thrift_field_struct_begin(&f->t, 1);
    pq_thrift_field_i32(&f->t, 1, 1);
    pq_thrift_struct_end(&f->t);
    pq_thrift_field_i32(&f->t, 2, 2);
    pq_thrift_struct_end(&f->t);
    EXPECT_BYTES(f, 0x1c, 0x15, 0x02, 0x00, 0x15, 0x04, 0x00);
}

static void test_thrift__page_header(void **state)
{
    fixture *f = *state;
    /* PageHeader{type DATA_PAGE, uncompressed 100, compressed 50,
     *            data_page_header{num_values 10, PLAIN, RLE, RLE}} */
    pq_thrift_struct_begin(&f->t);
    pq_thrift_field_i32(&f->t, 1, 0);
    pq_thrift_field_i32(&f->t, 2, 100);
    pq_thrift_field_i32(&f->t, 3, 50);
    pq_thrift_field_struct_begin(&f->t, 5);
    pq_thrift_field_i32(&f->t, 1, 10);
    pq_thrift_field_i32(&f->t, 2, 0);
    pq_thrift_field_i32(&f->t, 3, 3);
    pq_thrift_field_i32(&f->t, 4, 3);
    pq_thrift_struct_end(&f->t);
    pq_thrift_struct_end(&f->t);
    EXPECT_BYTES(f, 0x15, 0x00, 0x15, 0xc8, 0x01, 0x15, 0x64, 0x2c, 0x15, 0x14, 0x15, 0x00, 0x15,
                 0x06, 0x15, 0x06, 0x00, 0x00);
}

static void test_thrift__errors_are_sticky(void **state)
{
    fixture *f = *state;
    buf small;
    buf_init(&small, 4);
    errinfo err = {0};
    pq_thrift t;
    pq_thrift_init(&t, &small, &err);
    pq_thrift_struct_begin(&t);
    pq_thrift_field_binary(&t, 1, "hello world", 11);
    assert_int_equal(pq_thrift_status(&t), ST_TOO_LARGE);
    size_t len = small.len;
    pq_thrift_field_i32(&t, 2, 1);
    pq_thrift_struct_end(&t);
    assert_int_equal(small.len, len);
    assert_int_equal(pq_thrift_status(&t), ST_TOO_LARGE);
    assert_int_equal(err.code, ST_TOO_LARGE);
    buf_dispose(&small);

    /* Ending more structs than were begun is a programming error, reported. */
    pq_thrift_struct_end(&f->t);
    assert_int_equal(pq_thrift_status(&f->t), ST_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thrift__varint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__zigzag_i32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__zigzag_i64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__field_short_and_long_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__bools_in_field_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__binary_i8_i16, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__nested_structs_restore_field_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_thrift__page_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thrift__errors_are_sticky, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
