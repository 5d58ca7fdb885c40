package dev.pg2iceberg.tools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.DataFiles;
import org.apache.iceberg.FileFormat;
import org.apache.iceberg.GenericBlobMetadata;
import org.apache.iceberg.GenericStatisticsFile;
import org.apache.iceberg.HasTableOperations;
import org.apache.iceberg.NullOrder;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.Schema;
import org.apache.iceberg.SortOrder;
import org.apache.iceberg.Table;
import org.apache.iceberg.expressions.Expressions;
import org.apache.iceberg.expressions.Literal;
import org.apache.iceberg.hadoop.HadoopTables;
import org.apache.iceberg.types.Types;

/**
 * Writes the golden Iceberg table metadata files of src/iceberg/testdata with Iceberg Java
 * itself. Usage: MakeMetadataFixtures OUT_DIR.
 *
 * <p>For each format version 1, 2 and 3 it creates a table with HadoopTables under the fixed
 * directory /tmp/pg2iceberg-metadata-fixtures/vN (so the locations in the files are stable), and
 * copies two of its metadata files to OUT_DIR:
 *
 * <ul>
 *   <li>vN_created.metadata.json: the table as created (no snapshots);
 *   <li>vN_full.metadata.json: after appends, a delete, a branch commit, a tag and a branch with
 *       retention settings, schema evolution (added column, int to long, float to double, decimal
 *       precision), partition spec evolution, a sort order, properties, statistics (v2) and the
 *       metadata log that HadoopTables keeps.
 * </ul>
 *
 * <p>The schema has every primitive type, a struct, a list and a map, doc strings and two
 * identifier fields; v3 adds timestamp_ns, timestamptz_ns, variant, unknown, geometry, geography
 * and columns with initial and write defaults, and its snapshots carry row lineage. The partition
 * spec uses every transform (identity, bucket, truncate, year, month, day, hour, void).
 *
 * <p>UUIDs and timestamps come from the clock, so a rerun gives different files: the C++ tests
 * (src/iceberg/metadata_test.cc) assert the values of the committed files, so update both together.
 */
public final class MakeMetadataFixtures {
  private MakeMetadataFixtures() {}

  static final String ROOT = "/tmp/pg2iceberg-metadata-fixtures";

  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: MakeMetadataFixtures OUT_DIR");
      System.exit(2);
    }
    Path out = Paths.get(args[0]);
    Files.createDirectories(out);
    deleteRecursively(Paths.get(ROOT));
    for (int version = 1; version <= 3; version++) {
      make(version, out);
    }
    deleteRecursively(Paths.get(ROOT));
  }

  static Schema schema(int version) {
    List<Types.NestedField> fields = new ArrayList<>();
    fields.add(Types.NestedField.required(1, "id", Types.LongType.get(), "primary key"));
    fields.add(Types.NestedField.optional(2, "c_bool", Types.BooleanType.get()));
    fields.add(Types.NestedField.optional(3, "c_int", Types.IntegerType.get()));
    fields.add(Types.NestedField.optional(4, "c_long", Types.LongType.get()));
    fields.add(Types.NestedField.optional(5, "c_float", Types.FloatType.get()));
    fields.add(Types.NestedField.optional(6, "c_double", Types.DoubleType.get()));
    fields.add(Types.NestedField.optional(7, "c_decimal", Types.DecimalType.of(12, 3)));
    fields.add(Types.NestedField.optional(8, "c_date", Types.DateType.get()));
    fields.add(Types.NestedField.optional(9, "c_time", Types.TimeType.get()));
    fields.add(Types.NestedField.optional(10, "c_ts", Types.TimestampType.withoutZone()));
    fields.add(Types.NestedField.optional(11, "c_tstz", Types.TimestampType.withZone()));
    fields.add(
        Types.NestedField.required(12, "c_string", Types.StringType.get(), "second key part"));
    fields.add(Types.NestedField.optional(13, "c_uuid", Types.UUIDType.get()));
    fields.add(Types.NestedField.optional(14, "c_fixed", Types.FixedType.ofLength(16)));
    fields.add(Types.NestedField.optional(15, "c_binary", Types.BinaryType.get()));
    fields.add(
        Types.NestedField.optional(
            16,
            "s",
            Types.StructType.of(
                Types.NestedField.required(17, "event_ts", Types.TimestampType.withoutZone()),
                Types.NestedField.optional(18, "note", Types.StringType.get(), "free text"))));
    fields.add(
        Types.NestedField.optional(
            19, "tags", Types.ListType.ofOptional(20, Types.StringType.get())));
    fields.add(
        Types.NestedField.optional(
            21,
            "attrs",
            Types.MapType.ofRequired(
                22,
                23,
                Types.StringType.get(),
                Types.StructType.of(
                    Types.NestedField.optional(24, "a", Types.IntegerType.get()),
                    Types.NestedField.optional(25, "b", Types.DoubleType.get())))));
    if (version >= 3) {
      fields.add(Types.NestedField.optional(26, "c_ts_ns", Types.TimestampNanoType.withoutZone()));
      fields.add(Types.NestedField.optional(27, "c_tstz_ns", Types.TimestampNanoType.withZone()));
      fields.add(Types.NestedField.optional(28, "c_variant", Types.VariantType.get()));
      fields.add(Types.NestedField.optional(29, "c_unknown", Types.UnknownType.get()));
      fields.add(Types.NestedField.optional(30, "c_geometry", Types.GeometryType.crs84()));
      fields.add(
          Types.NestedField.optional(31, "c_geography", Types.GeographyType.of("srid:4326")));
      fields.add(
          Types.NestedField.optional("c_default_int")
              .withId(32)
              .ofType(Types.IntegerType.get())
              .withInitialDefault(Literal.of(42))
              .withWriteDefault(Literal.of(7))
              .build());
      fields.add(
          Types.NestedField.optional("c_default_string")
              .withId(33)
              .ofType(Types.StringType.get())
              .withDoc("has defaults")
              .withInitialDefault(Literal.of("n/a"))
              .withWriteDefault(Literal.of("unknown"))
              .build());
    }
    return new Schema(fields, Set.of(1, 12));
  }

  static PartitionSpec spec(Schema schema) {
    return PartitionSpec.builderFor(schema)
        .identity("c_bool")
        .bucket("id", 16)
        .truncate("c_string", 4)
        .year("c_date")
        .month("c_ts")
        .day("c_tstz")
        .hour("s.event_ts")
        .alwaysNull("c_long")
        .build();
  }

  static SortOrder sortOrder(Schema schema) {
    return SortOrder.builderFor(schema)
        .asc("id")
        .desc(Expressions.bucket("c_string", 4), NullOrder.NULLS_LAST)
        .asc(Expressions.day("c_tstz"), NullOrder.NULLS_FIRST)
        .build();
  }

  static DataFile dataFile(Table table, String name, long records) {
    return DataFiles.builder(table.spec())
        .withPath(table.location() + "/data/" + name)
        .withFormat(FileFormat.PARQUET)
        .withFileSizeInBytes(1000 + records)
        .withRecordCount(records)
        .build();
  }

  static void make(int version, Path out) throws IOException {
    String location = ROOT + "/v" + version;
    Schema schema = schema(version);
    Map<String, String> props = new LinkedHashMap<>();
    props.put("format-version", Integer.toString(version));
    props.put("owner", "pg2iceberg-fixtures");
    props.put("commit.retry.num-retries", "7");
    if (version == 1) {
      // A small cap, so the metadata log of the v1 fixture shows the pruning.
      props.put("write.metadata.previous-versions-max", "3");
    }
    HadoopTables tables = new HadoopTables(new Configuration());
    Table table = tables.create(schema, spec(schema), sortOrder(schema), props, location);
    Path created = currentMetadataFile(table);
    Files.copy(
        created,
        out.resolve("v" + version + "_created.metadata.json"),
        StandardCopyOption.REPLACE_EXISTING);

    DataFile a = dataFile(table, "a.parquet", 10);
    DataFile b = dataFile(table, "b.parquet", 5);
    table.newAppend().appendFile(a).appendFile(b).commit();
    long first = table.currentSnapshot().snapshotId();

    table
        .updateSchema()
        .addColumn("added_later", Types.StringType.get(), "added by evolution")
        .updateColumn("c_int", Types.LongType.get())
        .updateColumn("c_float", Types.DoubleType.get())
        .updateColumn("c_decimal", Types.DecimalType.of(20, 3))
        .commit();
    table
        .updateSpec()
        .removeField("c_string_trunc")
        .addField(Expressions.bucket("c_uuid", 8))
        .commit();

    table.newAppend().appendFile(dataFile(table, "c.parquet", 7)).commit();
    long second = table.currentSnapshot().snapshotId();

    table.newDelete().deleteFile(a).commit();

    table
        .manageSnapshots()
        .createTag("release-1", first)
        .setMaxRefAgeMs("release-1", 86_400_000L)
        .createBranch("audit", second)
        .setMinSnapshotsToKeep("audit", 3)
        .setMaxSnapshotAgeMs("audit", 3_600_000L)
        .commit();
    table.newAppend().appendFile(dataFile(table, "d.parquet", 2)).toBranch("audit").commit();

    table.updateProperties().set("pg2iceberg.fixture", "v" + version).commit();

    if (version == 2) {
      long current = table.currentSnapshot().snapshotId();
      table
          .updateStatistics()
          .setStatistics(
              new GenericStatisticsFile(
                  current,
                  location + "/metadata/stats.puffin",
                  413,
                  42,
                  List.of(
                      new GenericBlobMetadata(
                          "apache-datasketches-theta-v1",
                          current,
                          table.currentSnapshot().sequenceNumber(),
                          List.of(1),
                          Map.of("ndv", "13")))))
          .commit();
    }

    Files.copy(
        currentMetadataFile(table),
        out.resolve("v" + version + "_full.metadata.json"),
        StandardCopyOption.REPLACE_EXISTING);
    System.out.println("v" + version + ": " + currentMetadataFile(table));
  }

  static Path currentMetadataFile(Table table) {
    String loc = ((HasTableOperations) table).operations().current().metadataFileLocation();
    return Paths.get(loc.replaceFirst("^file:", ""));
  }

  static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toArray(Path[]::new)) {
        Files.delete(p);
      }
    }
  }
}
