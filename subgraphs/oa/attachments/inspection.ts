// An original inspected once stored, whichever way it came (POST /files, or a connector's download): its invoice
// read, its structure checked and the invoice verified (../invoices/inspect.ts), and the outcome kept on the file.
import { INSPECTED_TYPES, type Inspection, NOT_INSPECTED, inspectOriginal } from '../invoices/inspect.ts';
import type { InvoiceVerifier } from '../invoices/verifier.ts';
import type { AttachmentStore } from './store.ts';

export async function inspectStored(store: AttachmentStore, id: string, mediaType: string, verifier: InvoiceVerifier): Promise<Inspection> {
  if (!INSPECTED_TYPES.includes(mediaType)) return NOT_INSPECTED;
  // Read back from the bucket: the bytes inspected are the bytes stored. Bounded by the upload limit.
  const bytes = await store.bytesOf(id, store.settings.fileMaxBytes);
  const found = bytes ? await inspectOriginal(bytes, mediaType, verifier) : NOT_INSPECTED;
  await store.recordInspection(id, found);
  return found;
}
