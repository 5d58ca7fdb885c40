package dev.pg2iceberg.tools;

import java.io.File;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.DeleteFile;
import org.apache.iceberg.FileFormat;
import org.apache.iceberg.HasTableOperations;
import org.apache.iceberg.PartitionKey;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.Schema;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.Table;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.catalog.Namespace;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.GenericFileWriterFactory;
import org.apache.iceberg.data.GenericRecord;
import org.apache.iceberg.data.InternalRecordWrapper;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.deletes.EqualityDeleteWriter;
import org.apache.iceberg.deletes.PositionDelete;
import org.apache.iceberg.deletes.PositionDeleteWriter;
import org.apache.iceberg.encryption.EncryptedFiles;
import org.apache.iceberg.hadoop.HadoopCatalog;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.io.ResolvingFileIO;
import org.apache.iceberg.io.DataWriter;
import org.apache.iceberg.types.Types;

/**
 * Writes small Iceberg v2 tables with Iceberg Java itself, so the readers can be checked without
 * the project's C++ writer. Usage: MakeFixtureTable OUT_DIR [--warehouse URI] [--prop k=v ...].
 * Creates namespace "fixture" in a HadoopCatalog warehouse in OUT_DIR/warehouse, or under URI
 * (e.g. s3://bucket/prefix, with S3FileIO properties as --prop), and prints (and writes to
 * OUT_DIR/fixture.json) each table's location, metadata file and snapshot ids.
 *
 * <p>The values written here are repeated by hand, as expected TSV, in
 * tests/readers/test_readers.py: change both together.
 */
public final class MakeFixtureTable {
  private MakeFixtureTable() {}

  static final Schema ALL_TYPES =
      new Schema(
          Arrays.asList(
              Types.NestedField.required(1, "id", Types.IntegerType.get()),
              Types.NestedField.optional(2, "c_long", Types.LongType.get()),
              Types.NestedField.optional(3, "c_float", Types.FloatType.get()),
              Types.NestedField.optional(4, "c_double", Types.DoubleType.get()),
              Types.NestedField.optional(5, "c_decimal", Types.DecimalType.of(10, 2)),
              Types.NestedField.optional(6, "c_bool", Types.BooleanType.get()),
              Types.NestedField.optional(7, "c_string", Types.StringType.get()),
              Types.NestedField.optional(8, "c_binary", Types.BinaryType.get()),
              Types.NestedField.optional(9, "c_date", Types.DateType.get()),
              Types.NestedField.optional(10, "c_time", Types.TimeType.get()),
              Types.NestedField.optional(11, "c_ts", Types.TimestampType.withoutZone()),
              Types.NestedField.optional(12, "c_tstz", Types.TimestampType.withZone()),
              Types.NestedField.optional(13, "c_uuid", Types.UUIDType.get())),
          java.util.Set.of(1));

  static final Schema KV =
      new Schema(
          Arrays.asList(
              Types.NestedField.required(1, "id", Types.IntegerType.get()),
              Types.NestedField.optional(2, "name", Types.StringType.get()),
              Types.NestedField.optional(3, "v", Types.LongType.get())),
          java.util.Set.of(1));

  static final Schema NESTED =
      new Schema(
          Arrays.asList(
              Types.NestedField.required(1, "id", Types.IntegerType.get()),
              Types.NestedField.optional(
                  2,
                  "s",
                  Types.StructType.of(
                      Types.NestedField.optional(5, "a", Types.IntegerType.get()),
                      Types.NestedField.optional(6, "b", Types.StringType.get()))),
              Types.NestedField.optional(
                  3, "l", Types.ListType.ofOptional(7, Types.DoubleType.get())),
              Types.NestedField.optional(
                  4,
                  "m",
                  Types.MapType.ofOptional(8, 9, Types.StringType.get(), Types.LongType.get()))),
          java.util.Set.of(1));

  static final Schema FLOATS =
      new Schema(
          Types.NestedField.required(1, "id", Types.IntegerType.get()),
          Types.NestedField.optional(2, "f", Types.FloatType.get()),
          Types.NestedField.optional(3, "d", Types.DoubleType.get()));

  public static void main(String[] args) throws IOException {
    ReadTable.quietLogging();
    String outArg = null;
    String warehouseUri = null;
    Map<String, String> props = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--warehouse") && i + 1 < args.length) {
        warehouseUri = args[++i];
      } else if (args[i].equals("--prop") && i + 1 < args.length && args[i + 1].indexOf('=') > 0) {
        String kv = args[++i];
        props.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
      } else if (outArg == null && !args[i].startsWith("--")) {
        outArg = args[i];
      } else {
        outArg = null;
        break;
      }
    }
    if (outArg == null) {
      System.err.println(
          "usage: MakeFixtureTable OUT_DIR [--warehouse URI (e.g. s3://bucket/prefix)] [--prop k=v ...]");
      System.exit(2);
    }
    File out = new File(outArg).getAbsoluteFile();
    if (!out.mkdirs() && !out.isDirectory()) {
      throw new IOException("cannot create " + out);
    }
    Map<String, Object> result = Json.obj();
    Catalog catalog;
    if (warehouseUri == null) {
      // Local: a HadoopCatalog in OUT_DIR/warehouse.
      File warehouse = new File(out, "warehouse");
      if (!warehouse.mkdirs() && !warehouse.isDirectory()) {
        throw new IOException("cannot create " + warehouse);
      }
      result.put("warehouse", warehouse.getPath());
      catalog = new HadoopCatalog(new Configuration(), warehouse.getPath());
    } else {
      // Elsewhere (s3://...): metadata and data through ResolvingFileIO; the catalog is a JDBC
      // catalog on SQLite in OUT_DIR (the metadata file paths printed below are what the
      // readers need).
      result.put("warehouse", warehouseUri);
      Map<String, String> cprops = new LinkedHashMap<>(props);
      cprops.put("uri", "jdbc:sqlite:file:" + new File(out, "catalog.db").getPath());
      cprops.put("warehouse", warehouseUri);
      cprops.putIfAbsent("io-impl", ResolvingFileIO.class.getName());
      JdbcCatalog jdbc = new JdbcCatalog();
      jdbc.setConf(new Configuration());
      jdbc.initialize("fixture", cprops);
      jdbc.createNamespace(Namespace.of("fixture"));
      catalog = jdbc;
    }
    Map<String, Object> tables = Json.obj();
    try {
      tables.put("all_types", allTypes(catalog));
      tables.put("with_deletes", withDeletes(catalog));
      tables.put("pos_deletes", posDeletes(catalog));
      tables.put("nested", nested(catalog));
      tables.put("floats", floats(catalog));
      tables.put("partitioned", partitioned(catalog));
    } finally {
      if (catalog instanceof java.io.Closeable) {
        ((java.io.Closeable) catalog).close();
      }
    }
    result.put("tables", tables);
    String json = Json.write(result) + "\n";
    Files.writeString(new File(out, "fixture.json").toPath(), json, StandardCharsets.UTF_8);
    System.out.print(json);
  }

  private static Table create(Catalog catalog, String name, Schema schema) {
    return create(catalog, name, schema, PartitionSpec.unpartitioned());
  }

  private static Table create(Catalog catalog, String name, Schema schema, PartitionSpec spec) {
    Map<String, String> props = new LinkedHashMap<>();
    props.put("format-version", "2");
    props.put("write.parquet.compression-codec", "zstd");
    return catalog.createTable(TableIdentifier.of("fixture", name), schema, spec, props);
  }

  private static Map<String, Object> describe(Table table) {
    table.refresh();
    Map<String, Object> t = Json.obj();
    t.put("location", table.location());
    t.put(
        "metadata-file",
        ((HasTableOperations) table).operations().current().metadataFileLocation());
    List<Object> snaps = new ArrayList<>();
    for (Snapshot s : table.snapshots()) {
      snaps.add(s.snapshotId());
    }
    t.put("snapshot-ids", snaps);
    return t;
  }

  private static GenericFileWriterFactory writers(Table table, Schema eqDeleteSchema) {
    GenericFileWriterFactory.Builder b =
        new GenericFileWriterFactory.Builder(table)
            .dataFileFormat(FileFormat.PARQUET)
            .deleteFileFormat(FileFormat.PARQUET);
    if (eqDeleteSchema != null) {
      b.equalityFieldIds(eqDeleteSchema.columns().stream().mapToInt(f -> f.fieldId()).toArray())
          .equalityDeleteRowSchema(eqDeleteSchema);
    }
    return b.build();
  }

  /** Data file at LOCATION/data/NAME, so tests know its path. */
  private static DataFile writeData(Table table, String name, List<Record> rows)
      throws IOException {
    PartitionKey key = null;
    if (table.spec().isPartitioned()) {
      key = new PartitionKey(table.spec(), table.schema());
      key.partition(new InternalRecordWrapper(table.schema().asStruct()).wrap(rows.get(0)));
    }
    String path = table.location() + "/data/" + name;
    DataWriter<Record> w =
        writers(table, null)
            .newDataWriter(
                EncryptedFiles.plainAsEncryptedOutput(table.io().newOutputFile(path)),
                table.spec(),
                key);
    try (w) {
      for (Record r : rows) {
        w.write(r);
      }
    }
    return w.toDataFile();
  }

  private static Record rec(Schema schema, Object... values) {
    GenericRecord r = GenericRecord.create(schema);
    for (int i = 0; i < values.length; i++) {
      r.set(i, values[i]);
    }
    return r;
  }

  private static ByteBuffer bytes(int... b) {
    byte[] a = new byte[b.length];
    for (int i = 0; i < b.length; i++) {
      a[i] = (byte) b[i];
    }
    return ByteBuffer.wrap(a);
  }

  // fixture.all_types: every primitive type, NULLs, escapes and float edge cases in two files.
  private static Map<String, Object> allTypes(Catalog catalog) throws IOException {
    Table t = create(catalog, "all_types", ALL_TYPES);
    Schema s = t.schema();
    List<Record> file1 = new ArrayList<>();
    file1.add(
        rec(
            s,
            1,
            9007199254740993L,
            0.1f,
            0.1d,
            new BigDecimal("12.30"),
            true,
            "tab\there\nnew\\back",
            bytes(0x00, 0xAB, 0xFF),
            LocalDate.of(2025, 1, 15),
            LocalTime.of(13, 45, 30, 123456000),
            LocalDateTime.of(2025, 1, 15, 10, 0, 0),
            OffsetDateTime.of(2025, 1, 15, 10, 0, 0, 500000000, ZoneOffset.ofHours(2)),
            UUID.fromString("123e4567-e89b-12d3-a456-426614174000")));
    file1.add(rec(s, 2));
    file1.add(
        rec(
            s,
            3,
            -1L,
            -3.25e10f,
            1e-7d,
            new BigDecimal("-0.05"),
            false,
            "ünïcødé 😀",
            bytes(),
            LocalDate.of(1970, 1, 1),
            LocalTime.of(0, 0, 0),
            LocalDateTime.of(1999, 12, 31, 23, 59, 59, 1000),
            OffsetDateTime.of(2000, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC),
            UUID.fromString("00000000-0000-0000-0000-000000000000")));
    List<Record> file2 = new ArrayList<>();
    file2.add(
        rec(
            s,
            4,
            Long.MIN_VALUE,
            Float.NaN,
            Double.NEGATIVE_INFINITY,
            new BigDecimal("99999999.99"),
            true,
            "",
            null,
            LocalDate.of(1900, 2, 28),
            LocalTime.of(23, 59, 59, 999999000),
            LocalDateTime.of(1969, 12, 31, 23, 59, 59, 999999000),
            OffsetDateTime.of(1969, 12, 31, 23, 59, 59, 999999000, ZoneOffset.UTC),
            UUID.fromString("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")));
    file2.add(
        rec(s, 5, 0L, -0.0f, 1e16d, new BigDecimal("0.00"), false, "\\N", bytes(0x5C)));
    file2.add(rec(s, 6, Long.MAX_VALUE, Float.MAX_VALUE, Double.MAX_VALUE));
    file2.add(rec(s, 7, null, Float.MIN_VALUE, Double.MIN_VALUE));
    file2.add(rec(s, 8, null, 16777217f, 123456789.125d, null, null, "a\rb"));
    DataFile a = writeData(t, "all_types-1.parquet", file1);
    DataFile b = writeData(t, "all_types-2.parquet", file2);
    t.newAppend().appendFile(a).appendFile(b).commit();
    return describe(t);
  }

  // fixture.with_deletes: snapshot 1 appends ids 1..4 (file A); snapshot 2 is an "update" of id 2
  // as an equality delete on id plus a new row in file B, and a position delete of id 3 (pos 2).
  private static Map<String, Object> withDeletes(Catalog catalog) throws IOException {
    Table t = create(catalog, "with_deletes", KV);
    Schema s = t.schema();
    DataFile a =
        writeData(
            t,
            "kv-a.parquet",
            List.of(
                rec(s, 1, "a", 10L),
                rec(s, 2, "b", 20L),
                rec(s, 3, "c", 30L),
                rec(s, 4, "d", 40L)));
    t.newAppend().appendFile(a).commit();

    DataFile b = writeData(t, "kv-b.parquet", List.of(rec(s, 2, "b2", 21L)));

    Schema eqSchema = s.select("id");
    EqualityDeleteWriter<Record> ew =
        writers(t, eqSchema)
            .newEqualityDeleteWriter(
                EncryptedFiles.plainAsEncryptedOutput(
                    t.io().newOutputFile(t.location() + "/data/kv-eq-delete.parquet")),
                t.spec(),
                null);
    try (ew) {
      ew.write(rec(eqSchema, 2));
    }
    DeleteFile eq = ew.toDeleteFile();

    PositionDeleteWriter<Record> pw =
        writers(t, null)
            .newPositionDeleteWriter(
                EncryptedFiles.plainAsEncryptedOutput(
                    t.io().newOutputFile(t.location() + "/data/kv-pos-delete.parquet")),
                t.spec(),
                null);
    try (pw) {
      PositionDelete<Record> pd = PositionDelete.create();
      pw.write(pd.set(a.location(), 2L));
    }
    DeleteFile pos = pw.toDeleteFile();

    t.newRowDelta().addRows(b).addDeletes(eq).addDeletes(pos).commit();
    return describe(t);
  }

  // fixture.pos_deletes: ids 1..3 in one file, then a position delete of pos 0 (id 1).
  private static Map<String, Object> posDeletes(Catalog catalog) throws IOException {
    Table t = create(catalog, "pos_deletes", KV);
    Schema s = t.schema();
    DataFile a =
        writeData(
            t,
            "pd-a.parquet",
            List.of(rec(s, 1, "x", 1L), rec(s, 2, "y", 2L), rec(s, 3, "z", 3L)));
    t.newAppend().appendFile(a).commit();
    PositionDeleteWriter<Record> pw =
        writers(t, null)
            .newPositionDeleteWriter(
                EncryptedFiles.plainAsEncryptedOutput(
                    t.io().newOutputFile(t.location() + "/data/pd-pos-delete.parquet")),
                t.spec(),
                null);
    try (pw) {
      PositionDelete<Record> pd = PositionDelete.create();
      pw.write(pd.set(a.location(), 0L));
    }
    t.newRowDelta().addDeletes(pw.toDeleteFile()).commit();
    return describe(t);
  }

  // fixture.nested: struct, list and map columns.
  private static Map<String, Object> nested(Catalog catalog) throws IOException {
    Table t = create(catalog, "nested", NESTED);
    Schema s = t.schema();
    Types.StructType st = s.findField("s").type().asStructType();
    GenericRecord s1 = GenericRecord.create(st);
    s1.setField("a", 1);
    s1.setField("b", "x\"y");
    GenericRecord s3 = GenericRecord.create(st);
    s3.setField("a", null);
    s3.setField("b", "tab\t");
    Map<String, Long> m1 = new LinkedHashMap<>();
    m1.put("k1", 10L);
    m1.put("k2", null);
    List<Double> l3 = new ArrayList<>();
    l3.add(null);
    l3.add(2.0);
    DataFile a =
        writeData(
            t,
            "nested.parquet",
            List.of(
                rec(s, 1, s1, List.of(1.5, Double.NaN), m1),
                rec(s, 2, null, List.of(), Map.of()),
                rec(s, 3, s3, l3, null)));
    t.newAppend().appendFile(a).commit();
    return describe(t);
  }

  // fixture.floats: seeded random bit patterns and short decimals, to cross-check the float
  // rendering of the Java and Python readers (no hand-written expectation).
  private static Map<String, Object> floats(Catalog catalog) throws IOException {
    Table t = create(catalog, "floats", FLOATS);
    Schema s = t.schema();
    java.util.Random rnd = new java.util.Random(20250115L);
    List<Record> rows = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      float f;
      double d;
      switch (i % 3) {
        case 0:
          f = Float.intBitsToFloat(rnd.nextInt());
          d = Double.longBitsToDouble(rnd.nextLong());
          break;
        case 1:
          f = (float) (rnd.nextInt(2000001) - 1000000) / 1000f;
          d = (rnd.nextInt(2000001) - 1000000) / 100.0;
          break;
        default:
          f = (float) Math.scalb(rnd.nextDouble(), rnd.nextInt(80) - 40);
          d = Math.scalb(rnd.nextDouble(), rnd.nextInt(120) - 60);
      }
      rows.add(rec(s, i, f, d));
    }
    t.newAppend().appendFile(writeData(t, "floats.parquet", rows)).commit();
    return describe(t);
  }

  static final Schema PARTITIONED =
      new Schema(
          Arrays.asList(
              Types.NestedField.required(1, "id", Types.IntegerType.get()),
              Types.NestedField.optional(2, "cat", Types.StringType.get()),
              Types.NestedField.optional(3, "ts", Types.TimestampType.withZone())),
          java.util.Set.of(1));

  // fixture.partitioned: identity(cat), day(ts); one data file per partition.
  private static Map<String, Object> partitioned(Catalog catalog) throws IOException {
    PartitionSpec spec =
        PartitionSpec.builderFor(PARTITIONED).identity("cat").day("ts").build();
    Table t = create(catalog, "partitioned", PARTITIONED, spec);
    Schema s = t.schema();
    DataFile a =
        writeData(
            t,
            "cat=a/ts_day=2025-01-15/part-a.parquet",
            List.of(
                rec(s, 1, "a", OffsetDateTime.of(2025, 1, 15, 10, 0, 0, 0, ZoneOffset.UTC)),
                rec(s, 2, "a", OffsetDateTime.of(2025, 1, 15, 23, 0, 0, 0, ZoneOffset.UTC))));
    DataFile b =
        writeData(
            t,
            "cat=b/ts_day=2025-01-16/part-b.parquet",
            List.of(
                rec(s, 3, "b", OffsetDateTime.of(2025, 1, 16, 1, 30, 0, 0, ZoneOffset.ofHours(1)))));
    t.newAppend().appendFile(a).appendFile(b).commit();
    return describe(t);
  }
}
