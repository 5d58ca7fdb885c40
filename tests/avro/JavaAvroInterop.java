// Interop check against Java Avro (the library Iceberg Java reads manifests with), run by
// avro_interop_test as a single-file program:
//
//   java -cp "$PG2I_JAVA_LIB_DIR/*" tests/avro/JavaAvroInterop.java IN OUT
//
// Reads IN (written by pg2iceberg's codec), re-parses its avro.schema with Java's strict
// parser (name and default validation), checks that every record field carries a "field-id",
// then copies every record, the user metadata and the schema into OUT with Java's writer
// (deflate), for the C++ side to read and compare.
import java.io.File;
import org.apache.avro.Schema;
import org.apache.avro.file.CodecFactory;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;

public class JavaAvroInterop {
  static int checkIds(Schema s) {
    switch (s.getType()) {
      case RECORD: {
        int n = 0;
        for (Schema.Field f : s.getFields()) {
          if (f.getObjectProp("field-id") == null) {
            throw new IllegalStateException("field " + f.name() + " of " + s.getFullName()
                + " lost its field-id");
          }
          n += 1 + checkIds(f.schema());
        }
        return n;
      }
      case ARRAY: return checkIds(s.getElementType());
      case MAP: return checkIds(s.getValueType());
      case UNION: {
        int n = 0;
        for (Schema b : s.getTypes()) n += checkIds(b);
        return n;
      }
      default: return 0;
    }
  }

  public static void main(String[] args) throws Exception {
    File in = new File(args[0]);
    File out = new File(args[1]);
    try (DataFileReader<GenericRecord> reader =
             new DataFileReader<>(in, new GenericDatumReader<GenericRecord>())) {
      Schema strict = new Schema.Parser().setValidateDefaults(true)
                          .parse(reader.getMetaString("avro.schema"));
      if (!strict.equals(reader.getSchema())) throw new IllegalStateException("schema differs");
      int ids = checkIds(strict);
      DataFileWriter<GenericRecord> writer =
          new DataFileWriter<>(new GenericDatumWriter<GenericRecord>(strict));
      writer.setCodec(CodecFactory.deflateCodec(6));
      for (String key : reader.getMetaKeys()) {
        if (!key.startsWith("avro.")) writer.setMeta(key, reader.getMeta(key));
      }
      writer.setSyncInterval(2048);
      writer.create(strict, out);
      int n = 0;
      for (GenericRecord r : reader) {
        writer.append(r);
        n++;
      }
      writer.close();
      System.out.println("Java Avro read " + n + " records (" + ids + " field ids, codec "
          + reader.getMetaString("avro.codec") + ") and wrote them back");
    }
  }
}
