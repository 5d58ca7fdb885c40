package dev.pg2iceberg.tools;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.HistoryEntry;
import org.apache.iceberg.PartitionField;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.Schema;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.SnapshotRef;
import org.apache.iceberg.SortField;
import org.apache.iceberg.SortOrder;
import org.apache.iceberg.TableMetadata;
import org.apache.iceberg.TableMetadataParser;
import org.apache.iceberg.hadoop.HadoopFileIO;
import org.apache.iceberg.types.Type;
import org.apache.iceberg.types.Types;

/**
 * Reads a table metadata file with Iceberg Java's own parser (TableMetadataParser.read) and
 * prints a canonical, line-oriented summary of what Java understood, so a test can compare it with
 * the summary of the model it wrote. Usage: ParseMetadata FILE [--rewrite OUT].
 *
 * <p>With --rewrite, Java also writes the metadata back (TableMetadataParser.toJson) to OUT, for
 * reading in the other direction. Exit code 0 on success; a parse failure prints Java's exception
 * and exits 1.
 *
 * <p>The summary format is repeated by src/iceberg/metadata_java_interop_test.cc (JavaSummary):
 * change both together. One fact per line; fields of a schema are indented by nesting depth;
 * maps (properties, summaries, refs) are sorted by key.
 */
public final class ParseMetadata {
  private ParseMetadata() {}

  public static void main(String[] args) throws IOException {
    if (args.length != 1 && !(args.length == 3 && args[1].equals("--rewrite"))) {
      System.err.println("usage: ParseMetadata FILE [--rewrite OUT]");
      System.exit(2);
    }
    TableMetadata m;
    try {
      m = TableMetadataParser.read(new HadoopFileIO(new Configuration()), args[0]);
    } catch (RuntimeException e) {
      System.err.println("Iceberg Java cannot read " + args[0] + ": " + e);
      System.exit(1);
      return;
    }
    System.out.print(summary(m));
    if (args.length == 3) {
      Files.write(
          Paths.get(args[2]), TableMetadataParser.toJson(m).getBytes(StandardCharsets.UTF_8));
    }
  }

  static String summary(TableMetadata m) {
    StringBuilder sb = new StringBuilder();
    line(sb, "format-version " + m.formatVersion());
    line(sb, "table-uuid " + m.uuid());
    line(sb, "location " + m.location());
    line(sb, "last-sequence-number " + m.lastSequenceNumber());
    line(sb, "last-updated-ms " + m.lastUpdatedMillis());
    line(sb, "last-column-id " + m.lastColumnId());
    line(sb, "current-schema-id " + m.currentSchemaId());
    for (Schema s : m.schemas()) {
      String ids =
          s.identifierFieldIds().stream()
              .sorted()
              .map(String::valueOf)
              .collect(Collectors.joining(","));
      line(sb, "schema " + s.schemaId() + " identifier-field-ids [" + ids + "]");
      fields(sb, s.columns(), 1);
    }
    line(sb, "default-spec-id " + m.defaultSpecId());
    line(sb, "last-partition-id " + m.lastAssignedPartitionId());
    for (PartitionSpec spec : m.specs()) {
      line(sb, "spec " + spec.specId());
      for (PartitionField f : spec.fields()) {
        line(
            sb,
            "  " + f.fieldId() + " " + f.name() + " " + f.transform() + " source " + f.sourceId());
      }
    }
    line(sb, "default-sort-order-id " + m.defaultSortOrderId());
    for (SortOrder order : m.sortOrders()) {
      line(sb, "sort-order " + order.orderId());
      for (SortField f : order.fields()) {
        line(
            sb,
            "  "
                + f.transform()
                + " source "
                + f.sourceId()
                + " "
                + f.direction().toString().toLowerCase(Locale.ROOT)
                + " "
                + f.nullOrder().toString().toLowerCase(Locale.ROOT).replace(' ', '-'));
      }
    }
    for (Map.Entry<String, String> e : new TreeMap<>(m.properties()).entrySet()) {
      line(sb, "property " + e.getKey() + "=" + e.getValue());
    }
    Snapshot current = m.currentSnapshot();
    line(sb, "current-snapshot-id " + (current == null ? "none" : current.snapshotId()));
    if (m.formatVersion() >= 3) {
      line(sb, "next-row-id " + m.nextRowId());
    }
    for (Snapshot s : m.snapshots()) {
      line(
          sb,
          "snapshot "
              + s.snapshotId()
              + " parent "
              + orNone(s.parentId())
              + " sequence-number "
              + s.sequenceNumber()
              + " timestamp-ms "
              + s.timestampMillis()
              + " schema-id "
              + orNone(s.schemaId())
              + " first-row-id "
              + orNone(s.firstRowId())
              + " added-rows "
              + orNone(s.addedRows()));
      line(sb, "  manifest-list " + s.manifestListLocation());
      Map<String, String> summary = new TreeMap<>();
      if (s.summary() != null) {
        summary.putAll(s.summary());
      }
      if (s.operation() != null) {
        summary.put("operation", s.operation());
      }
      for (Map.Entry<String, String> e : summary.entrySet()) {
        line(sb, "  summary " + e.getKey() + "=" + e.getValue());
      }
    }
    for (Map.Entry<String, SnapshotRef> e : new TreeMap<>(m.refs()).entrySet()) {
      SnapshotRef r = e.getValue();
      line(
          sb,
          "ref "
              + e.getKey()
              + " "
              + (r.isBranch() ? "branch" : "tag")
              + " "
              + r.snapshotId()
              + " min-snapshots-to-keep "
              + orNone(r.minSnapshotsToKeep())
              + " max-snapshot-age-ms "
              + orNone(r.maxSnapshotAgeMs())
              + " max-ref-age-ms "
              + orNone(r.maxRefAgeMs()));
    }
    for (HistoryEntry e : m.snapshotLog()) {
      line(sb, "snapshot-log " + e.timestampMillis() + " " + e.snapshotId());
    }
    for (TableMetadata.MetadataLogEntry e : m.previousFiles()) {
      line(sb, "metadata-log " + e.timestampMillis() + " " + e.file());
    }
    return sb.toString();
  }

  private static void fields(StringBuilder sb, List<Types.NestedField> fields, int depth) {
    for (Types.NestedField f : fields) {
      Type t = f.type();
      String type =
          t.isPrimitiveType() ? t.toString() : t.typeId().toString().toLowerCase(Locale.ROOT);
      StringBuilder l = new StringBuilder();
      l.append("  ".repeat(depth))
          .append(f.fieldId())
          .append(' ')
          .append(f.name())
          .append(' ')
          .append(f.isRequired() ? "required" : "optional")
          .append(' ')
          .append(type);
      if (f.doc() != null) {
        l.append(" doc=").append(f.doc());
      }
      if (f.initialDefault() != null) {
        l.append(" initial-default=").append(f.initialDefault());
      }
      if (f.writeDefault() != null) {
        l.append(" write-default=").append(f.writeDefault());
      }
      line(sb, l.toString());
      if (t.isNestedType()) {
        fields(sb, t.asNestedType().fields(), depth + 1);
      }
    }
  }

  private static String orNone(Object o) {
    return o == null ? "none" : o.toString();
  }

  private static void line(StringBuilder sb, String s) {
    sb.append(s).append('\n');
  }
}
