package dev.pg2iceberg.tools;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.BaseTable;
import org.apache.iceberg.ContentFile;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.DeleteFile;
import org.apache.iceberg.FileContent;
import org.apache.iceberg.HasTableOperations;
import org.apache.iceberg.ManifestContent;
import org.apache.iceberg.ManifestFile;
import org.apache.iceberg.ManifestFiles;
import org.apache.iceberg.ManifestReader;
import org.apache.iceberg.MetadataColumns;
import org.apache.iceberg.PartitionField;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.Schema;
import org.apache.iceberg.SchemaParser;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.SortOrderParser;
import org.apache.iceberg.StaticTableOperations;
import org.apache.iceberg.StructLike;
import org.apache.iceberg.Table;
import org.apache.iceberg.TableMetadata;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.FileIO;
import org.apache.iceberg.io.ResolvingFileIO;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.rest.RESTCatalog;
import org.apache.iceberg.types.Conversions;
import org.apache.iceberg.types.Type;
import org.apache.iceberg.types.Types;
import org.apache.iceberg.util.SnapshotUtil;

/**
 * Independent reader for tests: prints an Iceberg table's live rows (all deletes applied, via
 * Iceberg Java's IcebergGenerics) as sorted TSV, or describes the table / its files as JSON.
 *
 * <p>Run with --help for the options; tools/README.md documents the output format.
 */
public final class ReadTable {
  static final String USAGE =
      String.join(
          "\n",
          "usage: ReadTable SOURCE [--table NS.NAME] [--snapshot-id N] [MODE] [--no-file-column]",
          "SOURCE (exactly one):",
          "  --rest-uri URI [--warehouse W] [--catalog-name N]   Iceberg REST catalog",
          "  --jdbc-uri jdbc:postgresql://H:P/DB --jdbc-user U --jdbc-password P",
          "      [--jdbc-schema S (default iceberg)] [--catalog-name N (default pg2iceberg)]",
          "      [--warehouse W]                                 JDBC catalog on PostgreSQL",
          "  --metadata-file PATH|URI                            a table metadata JSON file",
          "  --prop k=v (repeatable)  catalog / FileIO properties, e.g. s3.endpoint=http://..,",
          "      s3.path-style-access=true, s3.access-key-id=.., s3.secret-access-key=..,",
          "      client.region=us-east-1",
          "MODE: (default) rows as sorted TSV with a trailing _file column;",
          "      --describe  schema, partition specs, snapshot and its summary as JSON;",
          "      --files     live data and delete files of the snapshot with metrics as JSON",
          "Exit codes: 0 ok, 1 error, 2 usage error.");

  static final class UsageException extends RuntimeException {
    UsageException(String msg) {
      super(msg);
    }
  }

  static final class Options {
    String restUri;
    String jdbcUri;
    String jdbcUser;
    String jdbcPassword;
    String jdbcSchema = "iceberg";
    String catalogName;
    String warehouse;
    String metadataFile;
    String table;
    Long snapshotId;
    String mode = "rows";
    boolean fileColumn = true;
    final Map<String, String> props = new LinkedHashMap<>();

    static Options parse(String[] args) {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        switch (a) {
          case "--help":
          case "-h":
            o.mode = "help";
            break;
          case "--describe":
            o.mode = "describe";
            break;
          case "--files":
            o.mode = "files";
            break;
          case "--no-file-column":
            o.fileColumn = false;
            break;
          case "--rest-uri":
            o.restUri = value(args, ++i, a);
            break;
          case "--jdbc-uri":
            o.jdbcUri = value(args, ++i, a);
            break;
          case "--jdbc-user":
            o.jdbcUser = value(args, ++i, a);
            break;
          case "--jdbc-password":
            o.jdbcPassword = value(args, ++i, a);
            break;
          case "--jdbc-schema":
            o.jdbcSchema = value(args, ++i, a);
            break;
          case "--catalog-name":
            o.catalogName = value(args, ++i, a);
            break;
          case "--warehouse":
            o.warehouse = value(args, ++i, a);
            break;
          case "--metadata-file":
            o.metadataFile = value(args, ++i, a);
            break;
          case "--table":
            o.table = value(args, ++i, a);
            break;
          case "--snapshot-id":
            try {
              o.snapshotId = Long.parseLong(value(args, ++i, a));
            } catch (NumberFormatException e) {
              throw new UsageException("--snapshot-id needs an integer");
            }
            break;
          case "--prop":
            {
              String kv = value(args, ++i, a);
              int eq = kv.indexOf('=');
              if (eq <= 0) {
                throw new UsageException("--prop needs k=v, got: " + kv);
              }
              o.props.put(kv.substring(0, eq), kv.substring(eq + 1));
              break;
            }
          default:
            throw new UsageException("unknown argument: " + a);
        }
      }
      if (o.mode.equals("help")) {
        return o;
      }
      int sources =
          (o.restUri != null ? 1 : 0) + (o.jdbcUri != null ? 1 : 0) + (o.metadataFile != null ? 1 : 0);
      if (sources != 1) {
        throw new UsageException(
            "give exactly one of --rest-uri, --jdbc-uri, --metadata-file (got " + sources + ")");
      }
      if (o.metadataFile == null && o.table == null) {
        throw new UsageException("--table NS.NAME is required with a catalog");
      }
      return o;
    }

    private static String value(String[] args, int i, String opt) {
      if (i >= args.length) {
        throw new UsageException(opt + " needs a value");
      }
      return args[i];
    }
  }

  /** An opened table plus whatever must be closed after use. */
  static final class Opened implements Closeable {
    final Table table;
    final Closeable owner;

    Opened(Table table, Closeable owner) {
      this.table = table;
      this.owner = owner;
    }

    @Override
    public void close() throws IOException {
      if (owner != null) {
        owner.close();
      }
    }
  }

  static Opened open(Options o) {
    if (o.restUri != null) {
      Map<String, String> props = new HashMap<>();
      props.put("uri", o.restUri);
      if (o.warehouse != null) {
        props.put("warehouse", o.warehouse);
      }
      props.putAll(o.props);
      RESTCatalog catalog = new RESTCatalog();
      catalog.setConf(new Configuration());
      catalog.initialize(o.catalogName != null ? o.catalogName : "rest", props);
      return new Opened(catalog.loadTable(TableIdentifier.parse(o.table)), catalog);
    }
    if (o.jdbcUri != null) {
      Map<String, String> props = new HashMap<>();
      props.put("uri", o.jdbcUri);
      if (o.jdbcUser != null) {
        props.put("jdbc.user", o.jdbcUser);
      }
      if (o.jdbcPassword != null) {
        props.put("jdbc.password", o.jdbcPassword);
      }
      // JdbcClientPool hands every "jdbc."-prefixed property (prefix removed) to the driver;
      // pgjdbc's currentSchema sets the search_path, where the catalog's tables are looked up.
      // An explicit currentSchema in the URI wins.
      if (o.jdbcSchema != null && !o.jdbcSchema.isEmpty() && !o.jdbcUri.contains("currentSchema=")) {
        props.put("jdbc.currentSchema", o.jdbcSchema);
      }
      // JdbcCatalog insists on a warehouse even though reading never uses it.
      props.put("warehouse", o.warehouse != null ? o.warehouse : "file:///nonexistent-warehouse");
      props.put("io-impl", ResolvingFileIO.class.getName());
      props.putAll(o.props);
      // false: a reader must not create the catalog tables.
      JdbcCatalog catalog = new JdbcCatalog(null, null, false);
      catalog.setConf(new Configuration());
      catalog.initialize(o.catalogName != null ? o.catalogName : "pg2iceberg", props);
      return new Opened(catalog.loadTable(TableIdentifier.parse(o.table)), catalog);
    }
    String location = o.metadataFile;
    if (!location.matches("^[A-Za-z][A-Za-z0-9+.-]*:.*")) {
      location = new File(location).getAbsolutePath();
    }
    ResolvingFileIO io = new ResolvingFileIO();
    io.setConf(new Configuration());
    io.initialize(new HashMap<>(o.props));
    StaticTableOperations ops = new StaticTableOperations(location, io);
    String name = o.table != null ? o.table : location;
    return new Opened(new BaseTable(ops, name), io);
  }

  /** slf4j-simple: warnings and up on stderr, without Hadoop's native-library notice. */
  static void quietLogging() {
    System.setProperty(
        "org.slf4j.simpleLogger.defaultLogLevel",
        System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
    System.setProperty(
        "org.slf4j.simpleLogger.logFile",
        System.getProperty("org.slf4j.simpleLogger.logFile", "System.err"));
    System.setProperty(
        "org.slf4j.simpleLogger.log.org.apache.hadoop.util.NativeCodeLoader", "error");
  }

  /** The body of a tool's main: its exit code. */
  interface ToolBody {
    int run(String[] args) throws Exception;
  }

  /**
   * Runs a writer tool (RewriteDataFiles, DeleteRows) and exits: 2 with the message on bad usage,
   * 1 with the error otherwise (a stack trace with PG2I_READER_DEBUG set).
   */
  static void runTool(String name, ToolBody body, String[] args) {
    quietLogging();
    int rc;
    try {
      rc = body.run(args);
    } catch (UsageException e) {
      System.err.println(name + ": " + e.getMessage());
      rc = 2;
    } catch (Throwable t) {
      System.err.println(name + ": error: " + t);
      if (System.getenv("PG2I_READER_DEBUG") != null) {
        t.printStackTrace();
      }
      rc = 1;
    }
    System.exit(rc);
  }

  public static void main(String[] args) {
    quietLogging();
    int rc;
    try {
      rc = run(args);
    } catch (UsageException e) {
      System.err.println("ReadTable: " + e.getMessage());
      System.err.println(USAGE);
      rc = 2;
    } catch (Throwable t) {
      StringBuilder msg = new StringBuilder("ReadTable: error: ").append(t);
      for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
        msg.append("\n  caused by: ").append(c);
      }
      System.err.println(msg);
      if (System.getenv("PG2I_READER_DEBUG") != null) {
        t.printStackTrace();
      }
      rc = 1;
    }
    System.out.flush();
    System.exit(rc);
  }

  static int run(String[] args) throws IOException {
    Options o = Options.parse(args);
    if (o.mode.equals("help")) {
      System.out.println(USAGE);
      return 0;
    }
    PrintWriter out =
        new PrintWriter(
            new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8)));
    try (Opened opened = open(o)) {
      Table table = opened.table;
      Snapshot snapshot;
      Schema schema;
      if (o.snapshotId != null) {
        snapshot = table.snapshot(o.snapshotId);
        if (snapshot == null) {
          throw new IllegalArgumentException(
              "snapshot " + o.snapshotId + " not found in table " + table.name());
        }
        schema = SnapshotUtil.schemaFor(table, o.snapshotId);
      } else {
        snapshot = table.currentSnapshot();
        schema = table.schema();
      }
      switch (o.mode) {
        case "describe":
          out.print(Json.write(describe(table, snapshot, schema)));
          out.print('\n');
          break;
        case "files":
          out.print(Json.write(files(table, snapshot, schema)));
          out.print('\n');
          break;
        default:
          rows(table, o.snapshotId, schema, o.fileColumn, out);
      }
    }
    out.flush();
    if (out.checkError()) {
      throw new IOException("error writing to standard output");
    }
    return 0;
  }

  static void rows(Table table, Long snapshotId, Schema schema, boolean fileColumn, PrintWriter out)
      throws IOException {
    List<Types.NestedField> cols = schema.columns();
    List<Types.NestedField> projected = new ArrayList<>(cols);
    if (fileColumn) {
      projected.add(MetadataColumns.FILE_PATH);
    }
    Schema projection = new Schema(projected);

    StringBuilder header = new StringBuilder();
    for (Types.NestedField f : cols) {
      if (header.length() > 0) {
        header.append('\t');
      }
      header.append(Render.escapeTsv(f.name()));
    }
    if (fileColumn) {
      header.append(cols.isEmpty() ? "" : "\t").append(MetadataColumns.FILE_PATH.name());
    }

    List<String> lines = new ArrayList<>();
    IcebergGenerics.ScanBuilder scan = IcebergGenerics.read(table);
    if (snapshotId != null) {
      scan = scan.useSnapshot(snapshotId);
    }
    scan = scan.project(projection);
    try (CloseableIterable<Record> records = scan.build()) {
      for (Record r : records) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < cols.size(); i++) {
          if (i > 0) {
            line.append('\t');
          }
          Types.NestedField f = cols.get(i);
          line.append(Render.tsvField(f.type(), r.getField(f.name())));
        }
        if (fileColumn) {
          Object path = r.getField(MetadataColumns.FILE_PATH.name());
          line.append(cols.isEmpty() ? "" : "\t")
              .append(path == null ? Render.NULL : Render.escapeTsv(path.toString()));
        }
        lines.add(line.toString());
      }
    }
    lines.sort(Render.CODE_POINT_ORDER);
    out.print(header);
    out.print('\n');
    for (String l : lines) {
      out.print(l);
      out.print('\n');
    }
  }

  // ---------------------------------------------------------------- describe

  static Map<String, Object> describe(Table table, Snapshot snapshot, Schema schema) {
    Map<String, Object> d = Json.obj();
    d.put("name", table.name());
    d.put("location", table.location());
    if (table instanceof HasTableOperations) {
      TableMetadata meta = ((HasTableOperations) table).operations().current();
      d.put("format-version", meta.formatVersion());
      d.put("table-uuid", meta.uuid());
      d.put("metadata-file", meta.metadataFileLocation());
      d.put("last-sequence-number", meta.lastSequenceNumber());
    }
    d.put("schema", new Json.Raw(SchemaParser.toJson(schema, true)));
    List<Object> columns = new ArrayList<>();
    for (Types.NestedField f : schema.columns()) {
      Map<String, Object> c = Json.obj();
      c.put("id", f.fieldId());
      c.put("name", f.name());
      c.put("type", f.type().toString());
      c.put("required", f.isRequired());
      columns.add(c);
    }
    d.put("columns", columns);
    List<Object> idNames = new ArrayList<>();
    for (Integer id : schema.identifierFieldIds()) {
      idNames.add(schema.findColumnName(id));
    }
    d.put("identifier-field-ids", new ArrayList<>(schema.identifierFieldIds()));
    d.put("identifier-field-names", idNames);
    d.put("default-spec-id", table.spec().specId());
    d.put("partition-spec", spec(table.spec(), table.schema()));
    List<Object> specs = new ArrayList<>();
    for (PartitionSpec s : table.specs().values()) {
      specs.add(spec(s, table.schema()));
    }
    d.put("partition-specs", specs);
    d.put("sort-order", new Json.Raw(SortOrderParser.toJson(table.sortOrder(), true)));
    d.put("properties", new LinkedHashMap<>(new java.util.TreeMap<>(table.properties())));
    d.put(
        "current-snapshot-id",
        table.currentSnapshot() == null ? null : table.currentSnapshot().snapshotId());
    List<Object> snapshotIds = new ArrayList<>();
    for (Snapshot s : table.snapshots()) {
      snapshotIds.add(s.snapshotId());
    }
    d.put("snapshot-ids", snapshotIds);
    d.put("snapshot", snapshot == null ? null : snapshot(snapshot));
    return d;
  }

  static Map<String, Object> spec(PartitionSpec spec, Schema schema) {
    Map<String, Object> s = Json.obj();
    s.put("spec-id", spec.specId());
    List<Object> fields = new ArrayList<>();
    for (PartitionField f : spec.fields()) {
      Map<String, Object> pf = Json.obj();
      pf.put("name", f.name());
      pf.put("transform", f.transform().toString());
      pf.put("source-id", f.sourceId());
      pf.put("source-name", schema.findColumnName(f.sourceId()));
      pf.put("field-id", f.fieldId());
      fields.add(pf);
    }
    s.put("fields", fields);
    return s;
  }

  static Map<String, Object> snapshot(Snapshot s) {
    Map<String, Object> m = Json.obj();
    m.put("snapshot-id", s.snapshotId());
    m.put("parent-snapshot-id", s.parentId());
    m.put("sequence-number", s.sequenceNumber());
    m.put("timestamp-ms", s.timestampMillis());
    m.put("operation", s.operation());
    m.put("schema-id", s.schemaId());
    m.put("manifest-list", s.manifestListLocation());
    m.put("summary", s.summary() == null ? null : new LinkedHashMap<>(s.summary()));
    return m;
  }

  // ---------------------------------------------------------------- files

  static Map<String, Object> files(Table table, Snapshot snapshot, Schema schema) throws IOException {
    Map<String, Object> d = Json.obj();
    d.put("snapshot-id", snapshot == null ? null : snapshot.snapshotId());
    List<Object> data = new ArrayList<>();
    List<Object> deletes = new ArrayList<>();
    if (snapshot != null) {
      FileIO io = table.io();
      Map<Integer, PartitionSpec> specs = table.specs();
      for (ManifestFile m : snapshot.allManifests(io)) {
        if (m.content() == ManifestContent.DATA) {
          try (ManifestReader<DataFile> r = ManifestFiles.read(m, io, specs)) {
            for (DataFile f : r) {
              data.add(file(f, specs.get(f.specId()), schema, m));
            }
          }
        } else {
          try (ManifestReader<DeleteFile> r = ManifestFiles.readDeleteManifest(m, io, specs)) {
            for (DeleteFile f : r) {
              Map<String, Object> j = file(f, specs.get(f.specId()), schema, m);
              if (f.referencedDataFile() != null) {
                j.put("referenced-data-file", f.referencedDataFile());
              }
              if (f.contentOffset() != null) {
                j.put("content-offset", f.contentOffset());
                j.put("content-size-in-bytes", f.contentSizeInBytes());
              }
              deletes.add(j);
            }
          }
        }
      }
    }
    d.put("data-files", data);
    d.put("delete-files", deletes);
    return d;
  }

  static Map<String, Object> file(ContentFile<?> f, PartitionSpec spec, Schema schema, ManifestFile m) {
    Map<String, Object> j = Json.obj();
    j.put("content", f.content().name());
    j.put("path", f.location());
    j.put("format", f.format().name());
    j.put("spec-id", f.specId());
    j.put("manifest", m.path());
    Map<String, Object> part = Json.obj();
    if (spec != null) {
      List<Types.NestedField> pfields = spec.partitionType().fields();
      StructLike p = f.partition();
      for (int i = 0; i < pfields.size(); i++) {
        Object v = p == null ? null : p.get(i, Object.class);
        part.put(pfields.get(i).name(), Render.internal(pfields.get(i).type(), v));
      }
    }
    j.put("partition", part);
    j.put("record-count", f.recordCount());
    j.put("file-size-in-bytes", f.fileSizeInBytes());
    j.put("data-sequence-number", f.dataSequenceNumber());
    j.put("file-sequence-number", f.fileSequenceNumber());
    if (f.content() == FileContent.EQUALITY_DELETES) {
      j.put("equality-field-ids", f.equalityFieldIds());
      List<Object> names = new ArrayList<>();
      for (Integer id : f.equalityFieldIds()) {
        names.add(schema.findColumnName(id));
      }
      j.put("equality-field-names", names);
    }
    j.put("sort-order-id", f.sortOrderId());
    j.put("column-sizes", counts(f.columnSizes(), schema));
    j.put("value-counts", counts(f.valueCounts(), schema));
    j.put("null-value-counts", counts(f.nullValueCounts(), schema));
    j.put("nan-value-counts", counts(f.nanValueCounts(), schema));
    j.put("lower-bounds", bounds(f.lowerBounds(), schema));
    j.put("upper-bounds", bounds(f.upperBounds(), schema));
    return j;
  }

  private static String columnKey(int id, Schema schema) {
    if (id == MetadataColumns.DELETE_FILE_PATH.fieldId()) {
      return MetadataColumns.DELETE_FILE_PATH.name();
    }
    if (id == MetadataColumns.DELETE_FILE_POS.fieldId()) {
      return MetadataColumns.DELETE_FILE_POS.name();
    }
    String name = schema.findColumnName(id);
    return name != null ? name : Integer.toString(id);
  }

  private static Type columnType(int id, Schema schema) {
    if (id == MetadataColumns.DELETE_FILE_PATH.fieldId()) {
      return MetadataColumns.DELETE_FILE_PATH.type();
    }
    if (id == MetadataColumns.DELETE_FILE_POS.fieldId()) {
      return MetadataColumns.DELETE_FILE_POS.type();
    }
    return schema.findType(id);
  }

  private static Object counts(Map<Integer, Long> m, Schema schema) {
    if (m == null) {
      return null;
    }
    Map<String, Object> out = Json.obj();
    new java.util.TreeMap<>(m).forEach((id, n) -> out.put(columnKey(id, schema), n));
    return out;
  }

  private static Object bounds(Map<Integer, ByteBuffer> m, Schema schema) {
    if (m == null) {
      return null;
    }
    Map<String, Object> out = Json.obj();
    new java.util.TreeMap<>(m)
        .forEach(
            (id, buf) -> {
              Type t = columnType(id, schema);
              String text;
              if (t == null || !t.isPrimitiveType()) {
                text = Render.hex(buf);
              } else {
                text = Render.internal(t, Conversions.fromByteBuffer(t, buf));
              }
              out.put(columnKey(id, schema), text);
            });
    return out;
  }
}
