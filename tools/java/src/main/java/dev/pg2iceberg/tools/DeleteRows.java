package dev.pg2iceberg.tools;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.DeleteFile;
import org.apache.iceberg.FileFormat;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.HasTableOperations;
import org.apache.iceberg.PartitionSpec;
import org.apache.iceberg.RowDelta;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.Table;
import org.apache.iceberg.data.BaseDeleteLoader;
import org.apache.iceberg.data.GenericFileWriterFactory;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.data.parquet.GenericParquetReaders;
import org.apache.iceberg.deletes.BaseDVFileWriter;
import org.apache.iceberg.deletes.PositionDelete;
import org.apache.iceberg.deletes.PositionDeleteIndex;
import org.apache.iceberg.deletes.PositionDeleteWriter;
import org.apache.iceberg.encryption.EncryptedFiles;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.OutputFileFactory;
import org.apache.iceberg.parquet.Parquet;

/**
 * Another writer on a table pg2iceberg writes, for tests: deletes rows by key the way a
 * merge-on-read DELETE in Spark does, with position delete files (one per data file that holds
 * a matching row, in that file's partition) committed as a row delta. On a format v3 table it
 * writes deletion vectors instead, merged with each file's previous deletes (the vector it
 * replaces is removed), as Spark does there.
 *
 * <p>Usage: DeleteRows SOURCE --table NS.NAME --column C --values V1,V2,...; SOURCE as for
 * ReadTable. Rows whose column C (compared as text) is one of the values are deleted. Prints
 * the number of rows and files.
 */
public final class DeleteRows {
  private DeleteRows() {}

  public static void main(String[] args) {
    ReadTable.runTool("DeleteRows", DeleteRows::run, args);
  }

  static int run(String[] args) throws IOException {
    String column = null;
    Set<String> values = new HashSet<>();
    List<String> rest = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--column") && i + 1 < args.length) {
        column = args[++i];
      } else if (args[i].equals("--values") && i + 1 < args.length) {
        for (String v : args[++i].split(",")) {
          values.add(v);
        }
      } else {
        rest.add(args[i]);
      }
    }
    if (column == null || values.isEmpty()) {
      throw new ReadTable.UsageException("--column and --values are required");
    }
    ReadTable.Options o = ReadTable.Options.parse(rest.toArray(new String[0]));
    try (ReadTable.Opened opened = ReadTable.open(o)) {
      Table table = opened.table;
      Snapshot snapshot = table.currentSnapshot();
      if (snapshot == null) {
        throw new IllegalStateException("table " + table.name() + " has no snapshot");
      }
      List<DataFile> files = new ArrayList<>();
      Map<String, List<DeleteFile>> deletesOf = new LinkedHashMap<>();
      try (CloseableIterable<FileScanTask> tasks =
          table.newScan().useSnapshot(snapshot.snapshotId()).planFiles()) {
        for (FileScanTask t : tasks) {
          files.add(t.file());
          deletesOf.put(t.file().location(), new ArrayList<>(t.deletes()));
        }
      }
      int formatVersion = ((HasTableOperations) table).operations().current().formatVersion();
      BaseDVFileWriter dvs = null;
      if (formatVersion >= 3) {
        BaseDeleteLoader loader = new BaseDeleteLoader(df -> table.io().newInputFile(df.location()));
        OutputFileFactory factory =
            OutputFileFactory.builderFor(table, 1, System.nanoTime()).format(FileFormat.PUFFIN).build();
        dvs =
            new BaseDVFileWriter(
                factory,
                path -> {
                  List<DeleteFile> previous = new ArrayList<>();
                  for (DeleteFile d : deletesOf.getOrDefault(path, List.of())) {
                    if (d.content() == org.apache.iceberg.FileContent.POSITION_DELETES) {
                      previous.add(d);
                    }
                  }
                  return previous.isEmpty() ? null : loader.loadPositionDeletes(previous, path);
                });
      }
      files.sort(Comparator.comparing(f -> f.path().toString()));
      GenericFileWriterFactory writers =
          new GenericFileWriterFactory.Builder(table).deleteFileFormat(FileFormat.PARQUET).build();
      RowDelta delta = table.newRowDelta().validateFromSnapshot(snapshot.snapshotId());
      int rows = 0;
      int written = 0;
      for (DataFile f : files) {
        // The file's rows in file order: a row's position is its index.
        List<Long> positions = new ArrayList<>();
        try (CloseableIterable<Record> records =
            Parquet.read(table.io().newInputFile(f.path().toString()))
                .project(table.schema())
                .createReaderFunc(s -> GenericParquetReaders.buildReader(table.schema(), s))
                .build()) {
          long pos = 0;
          for (Record r : records) {
            Object v = r.getField(column);
            if (v != null && values.contains(v.toString())) {
              positions.add(pos);
            }
            pos++;
          }
        }
        if (positions.isEmpty()) {
          continue;
        }
        PartitionSpec spec = table.specs().get(f.specId());
        if (dvs != null) {
          for (long pos : positions) {
            dvs.delete(f.location(), pos, spec, spec.isPartitioned() ? f.partition() : null);
          }
          rows += positions.size();
          continue;
        }
        String path = table.location() + "/data/pos-deletes-" + UUID.randomUUID() + ".parquet";
        PositionDeleteWriter<Record> w =
            writers.newPositionDeleteWriter(
                EncryptedFiles.plainAsEncryptedOutput(table.io().newOutputFile(path)),
                spec,
                spec.isPartitioned() ? f.partition() : null);
        try (w) {
          PositionDelete<Record> d = PositionDelete.create();
          for (long pos : positions) {
            w.write(d.set(f.path().toString(), pos, null));
          }
        }
        for (DeleteFile df : w.result().deleteFiles()) {
          delta.addDeletes(df);
          written++;
        }
        rows += positions.size();
      }
      if (dvs != null) {
        dvs.close();
        for (DeleteFile df : dvs.result().deleteFiles()) {
          delta.addDeletes(df);
          written++;
        }
        for (DeleteFile df : dvs.result().rewrittenDeleteFiles()) {
          delta.removeDeletes(df);
        }
      }
      delta.commit();
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("rows-deleted", rows);
      out.put("delete-files-written", written);
      System.out.println(Json.write(out));
    }
    return 0;
  }
}
