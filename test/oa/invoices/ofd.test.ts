import { readFileSync } from 'node:fs';
import { strToU8, zipSync, type Zippable } from 'fflate';
import { describe, expect, it } from 'vitest';
import { InvoiceParseError } from '../../../subgraphs/oa/invoices/fully-digital.ts';
import { OFD_LIMITS, checkOfd } from '../../../subgraphs/oa/invoices/ofd.ts';

const einvoiceXml = readFileSync(new URL('./fixtures/normal.xml', import.meta.url));
const NS = 'xmlns:ofd="http://www.ofdspec.org/2016"';

function ofdXml(docRoot = 'Doc_0/Document.xml', customDatas = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<ofd:OFD ${NS} Version="1.1" DocType="OFD">
  <ofd:DocBody>
    <ofd:DocInfo><ofd:DocID>6d1f0a0e0b2c4b7f9a1b2c3d4e5f6a7b</ofd:DocID><ofd:Creator>示例开票系统</ofd:Creator>${customDatas}</ofd:DocInfo>
    <ofd:DocRoot>${docRoot}</ofd:DocRoot>
  </ofd:DocBody>
</ofd:OFD>`;
}

function documentXml(attachments = true): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<ofd:Document ${NS}>
  <ofd:CommonData><ofd:MaxUnitID>20</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 140</ofd:PhysicalBox></ofd:PageArea></ofd:CommonData>
  <ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages>
  ${attachments ? '<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>' : ''}
  <ofd:CustomTags>Tags/CustomTags.xml</ofd:CustomTags>
</ofd:Document>`;
}

const attachmentsXml = `<?xml version="1.0" encoding="UTF-8"?>
<ofd:Attachments ${NS}><ofd:Attachment ID="30" Name="original_invoice" Format="xml" Visible="false"><ofd:FileLoc>original_invoice.xml</ofd:FileLoc></ofd:Attachment></ofd:Attachments>`;

const page = `<?xml version="1.0" encoding="UTF-8"?><ofd:Page ${NS}><ofd:Content><ofd:Layer ID="2"/></ofd:Content></ofd:Page>`;

function pkg(files: Record<string, string | Uint8Array>): Uint8Array {
  const zippable: Zippable = {};
  for (const [name, content] of Object.entries(files)) zippable[name] = typeof content === 'string' ? strToU8(content) : content;
  return zipSync(zippable, { level: 9 });
}

function base(extra: Record<string, string | Uint8Array> = {}): Record<string, string | Uint8Array> {
  return { 'OFD.xml': ofdXml(), 'Doc_0/Document.xml': documentXml(false), 'Doc_0/Pages/Page_0/Content.xml': page, 'Doc_0/Tags/CustomTags.xml': `<ofd:CustomTags ${NS}/>`, ...extra };
}

async function ofdError(bytes: Uint8Array): Promise<string> {
  try {
    await checkOfd(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(InvoiceParseError);
    return (err as Error).message;
  }
  throw new Error('expected an InvoiceParseError');
}

describe('OFD structure', () => {
  it('accepts a package whose DocRoot exists, structure only when it carries no invoice data', async () => {
    expect(await checkOfd(pkg(base()))).toEqual({ documents: ['Doc_0/Document.xml'], invoice: null });
  });

  it('reads the 数电票 XML carried as an attachment', async () => {
    const bytes = pkg(base({ 'Doc_0/Document.xml': documentXml(true), 'Doc_0/Attachs/Attachments.xml': attachmentsXml, 'Doc_0/Attachs/original_invoice.xml': einvoiceXml }));
    expect(await checkOfd(bytes)).toEqual({
      documents: ['Doc_0/Document.xml'],
      invoice: {
        source: 'ATTACHMENT_EINVOICE',
        invoiceNumber: '26442000000012345678',
        issueDate: '2026-09-01',
        buyer: { name: '深圳市示例科技有限公司', taxId: '91440300MA5G12345L' },
        seller: { name: '北京示例软件服务有限公司', taxId: '91110105MA00P8L2RU' },
        amountFen: 120000,
        taxFen: 7200,
        totalFen: 127200,
      },
    });
  });

  it('reads the older e-invoice XML (eInvoice) carried as an attachment', async () => {
    const legacy = `<?xml version="1.0" encoding="UTF-8"?>
<eInvoice><DocID>1</DocID><InvoiceCode>044031900111</InvoiceCode><InvoiceNo>12345678</InvoiceNo><IssueDate>2024年05月28日</IssueDate>
<Buyer><BuyerName>深圳市示例科技有限公司</BuyerName><BuyerTaxID>91440300ma5g12345l</BuyerTaxID></Buyer>
<Seller><SellerName>北京示例软件服务有限公司</SellerName><SellerTaxID>91110105MA00P8L2RU</SellerTaxID></Seller>
<TaxExclusiveTotalAmount>4197.17</TaxExclusiveTotalAmount><TaxTotalAmount>251.83</TaxTotalAmount><TaxInclusiveTotalAmount>¥4449.00</TaxInclusiveTotalAmount></eInvoice>`;
    const bytes = pkg(base({ 'Doc_0/Document.xml': documentXml(true), 'Doc_0/Attachs/Attachments.xml': attachmentsXml, 'Doc_0/Attachs/original_invoice.xml': legacy }));
    expect((await checkOfd(bytes)).invoice).toEqual({
      source: 'ATTACHMENT_LEGACY',
      invoiceNumber: '12345678',
      issueDate: '2024-05-28',
      buyer: { name: '深圳市示例科技有限公司', taxId: '91440300MA5G12345L' },
      seller: { name: '北京示例软件服务有限公司', taxId: '91110105MA00P8L2RU' },
      amountFen: 419717,
      taxFen: 25183,
      totalFen: 444900,
    });
  });

  it('reads DocInfo/CustomDatas, where 合计金额 is the amount without tax', async () => {
    const custom = '<ofd:CustomDatas><ofd:CustomData Name="发票号码">26442000000012345678</ofd:CustomData><ofd:CustomData Name="开票日期">2026年09月01日</ofd:CustomData>'
      + '<ofd:CustomData Name="购买方纳税人识别号">91440300MA5G12345L</ofd:CustomData><ofd:CustomData Name="销售方纳税人识别号">91110105MA00P8L2RU</ofd:CustomData>'
      + '<ofd:CustomData Name="合计金额">1200.00</ofd:CustomData><ofd:CustomData Name="合计税额">72.00</ofd:CustomData></ofd:CustomDatas>';
    expect((await checkOfd(pkg(base({ 'OFD.xml': ofdXml('Doc_0/Document.xml', custom) })))).invoice).toEqual({
      source: 'CUSTOM_DATA',
      invoiceNumber: '26442000000012345678',
      issueDate: '2026-09-01',
      buyer: { name: null, taxId: '91440300MA5G12345L' },
      seller: { name: null, taxId: '91110105MA00P8L2RU' },
      amountFen: 120000,
      taxFen: 7200,
      totalFen: 127200,
    });
  });

  it('refuses a package without OFD.xml at its root', async () => {
    const files = base();
    const { 'OFD.xml': ofd, ...rest } = files;
    expect(await ofdError(pkg({ ...rest, 'Doc_0/OFD.xml': ofd! }))).toBe('OFD.xml missing at the root of the package: not an OFD file');
  });

  it('refuses an OFD.xml whose root is not ofd:OFD, or whose DocRoot names no file', async () => {
    expect(await ofdError(pkg(base({ 'OFD.xml': `<ofd:Document ${NS}/>` })))).toBe('OFD.xml: root element ofd:OFD missing');
    expect(await ofdError(pkg(base({ 'OFD.xml': ofdXml('Doc_1/Document.xml') })))).toBe('OFD.xml: DocRoot Doc_1/Document.xml names no file in the package');
    expect(await ofdError(pkg(base({ 'OFD.xml': ofdXml('../Document.xml') })))).toBe('OFD.xml: DocRoot ../Document.xml names no file in the package');
  });

  it('refuses what is not a ZIP', async () => {
    expect(await ofdError(new TextEncoder().encode('%PDF-1.7\n'))).toMatch(/^not a ZIP package, so not an OFD file/);
  });

  it('refuses entry names that leave the package (path traversal)', async () => {
    expect(await ofdError(pkg(base({ '../evil.xml': '<x/>' })))).toMatch(/^the OFD package is not a valid ZIP: invalid relative path: \.\.\/evil\.xml/);
    expect(await ofdError(pkg(base({ '/etc/evil.xml': '<x/>' })))).toMatch(/^the OFD package is not a valid ZIP: absolute path: \/etc\/evil\.xml/);
  });

  it('refuses a zip bomb: a highly compressed entry', async () => {
    const bomb = pkg(base({ 'Doc_0/Res/image.bin': new Uint8Array(20 * 1024 * 1024) }));
    expect(bomb.byteLength).toBeLessThan(100_000);
    expect(await ofdError(bomb)).toBe(`the OFD package entry Doc_0/Res/image.bin is compressed more than ${OFD_LIMITS.maxRatio}:1 (a zip bomb?)`);
  });

  it('refuses a zip bomb that understates its size, while inflating', async () => {
    const padded = ofdXml().replace('</ofd:OFD>', `<!--${' '.repeat(3 * 1024 * 1024)}--></ofd:OFD>`);
    const bytes = pkg(base({ 'OFD.xml': padded }));
    // Declare 1000 bytes for OFD.xml in its local and central directory headers.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let patched = 0;
    for (let i = 0; i + 46 < bytes.length; i++) {
      const sig = view.getUint32(i, true);
      const nameAt = sig === 0x04034b50 ? i + 30 : sig === 0x02014b50 ? i + 46 : -1;
      if (nameAt < 0) continue;
      const nameLength = view.getUint16(i + (sig === 0x04034b50 ? 26 : 28), true);
      if (new TextDecoder().decode(bytes.subarray(nameAt, nameAt + nameLength)) !== 'OFD.xml') continue;
      view.setUint32(i + (sig === 0x04034b50 ? 22 : 24), 1000, true);
      patched++;
    }
    expect(patched).toBe(2);
    expect(await ofdError(bytes)).toMatch(/^OFD\.xml could not be inflated: too many bytes in the stream/);
  });

  it('refuses too many entries', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i <= OFD_LIMITS.maxEntries; i++) many[`Doc_0/Res/${i}.txt`] = '';
    expect(await ofdError(pkg(base(many)))).toBe(`the OFD package has ${OFD_LIMITS.maxEntries + 5} entries, more than ${OFD_LIMITS.maxEntries}`);
  });

  it('refuses a broken attachment, naming it', async () => {
    const bytes = pkg(base({ 'Doc_0/Document.xml': documentXml(true), 'Doc_0/Attachs/Attachments.xml': attachmentsXml, 'Doc_0/Attachs/original_invoice.xml': einvoiceXml.toString('utf8').replace('<TotalTaxAm>72.00', '<TotalTaxAm>72.50') }));
    expect(await ofdError(bytes)).toBe('TotalAmWithoutTax + TotalTaxAm (127250 fen) differs from TotalTax-includedAmount (127200 fen)');
  });
});

describe('OFD custom tags: the invoice fields printed on the page and tagged', () => {
  const FP = 'xmlns:fp="http://www.edrm.org.cn/schema/e-invoice/2019"';
  const ref = (...ids: number[]) => ids.map((id) => `<ofd:ObjectRef PageRef="1">${id}</ofd:ObjectRef>`).join('');
  // The tag file as tax-system OFDs write it: every field an ObjectRef to a text object on the page or its template.
  const customTag = (fields: Record<string, string>) =>
    `<?xml version="1.0" encoding="UTF-8"?><fp:eInvoice ${FP} ${NS}>${Object.entries(fields).map(([k, v]) => `<fp:${k}>${v}</fp:${k}>`).join('')}</fp:eInvoice>`;
  const TAGS = {
    InvoiceNo: ref(101),
    IssueDate: ref(102),
    Buyer: `<fp:BuyerName>${ref(103)}</fp:BuyerName><fp:BuyerTaxID>${ref(104)}</fp:BuyerTaxID>`,
    Seller: `<fp:SellerName>${ref(105)}</fp:SellerName><fp:SellerTaxID>${ref(106)}</fp:SellerTaxID>`,
    TaxExclusiveTotalAmount: ref(107),
    TaxTotalAmount: ref(108),
    TaxInclusiveTotalAmount: ref(109, 110),
  };
  const text = (id: number, ...codes: string[]) =>
    `<ofd:TextObject ID="${id}" Boundary="10 10 50 5" Font="3" Size="3.175">${codes.map((c, i) => `<ofd:TextCode X="${i * 2}" Y="2.5">${c}</ofd:TextCode>`).join('')}</ofd:TextObject>`;
  const content = (objects: string) => `<?xml version="1.0" encoding="UTF-8"?><ofd:Page ${NS}><ofd:Template TemplateID="2"/><ofd:Content><ofd:Layer ID="3">${objects}</ofd:Layer></ofd:Content></ofd:Page>`;
  const PAGE = content(
    text(101, '26442000', '000012345678') +
      text(102, '2026年09月01日') +
      `<ofd:PageBlock ID="20">${text(103, '深圳市示例科技有限公司')}${text(104, '91440300ma5g12345l')}</ofd:PageBlock>` +
      text(107, '¥1,200.00') +
      text(108, '¥72.00') +
      text(109, '¥1,27') +
      text(110, '2.00'),
  );
  // The seller is printed by the template, as some issuers do.
  const TEMPLATE = content(text(105, '北京示例软件服务有限公司') + text(106, '91110105MA00P8L2RU'));
  const documentWithTemplate = documentXml(false).replace(
    '<ofd:PageArea>',
    '<ofd:TemplatePage ID="2" BaseLoc="Tpls/Tpl_0/Content.xml"/><ofd:PageArea>',
  );
  const tagged = (tagFile: string, extra: Record<string, string | Uint8Array> = {}) =>
    pkg(
      base({
        'Doc_0/Document.xml': documentWithTemplate,
        'Doc_0/Tags/CustomTags.xml': `<?xml version="1.0" encoding="UTF-8"?><ofd:CustomTags ${NS}><ofd:CustomTag TypeID="eInvoice" NameSpace="http://www.edrm.org.cn/schema/e-invoice/2019"><ofd:FileLoc>CustomTag.xml</ofd:FileLoc></ofd:CustomTag></ofd:CustomTags>`,
        'Doc_0/Tags/CustomTag.xml': tagFile,
        'Doc_0/Pages/Page_0/Content.xml': PAGE,
        'Doc_0/Tpls/Tpl_0/Content.xml': TEMPLATE,
        ...extra,
      }),
    );

  it('reads every field from the text objects it names, on the page, in a page block and on the template, split codes joined', async () => {
    expect((await checkOfd(tagged(customTag(TAGS)))).invoice).toEqual({
      source: 'CUSTOM_TAG',
      invoiceNumber: '26442000000012345678',
      issueDate: '2026-09-01',
      buyer: { name: '深圳市示例科技有限公司', taxId: '91440300MA5G12345L' },
      seller: { name: '北京示例软件服务有限公司', taxId: '91110105MA00P8L2RU' },
      amountFen: 120000,
      taxFen: 7200,
      totalFen: 127200,
    });
  });

  it('fills what the tags lack from DocInfo/CustomDatas when both agree, and refuses a file whose two say different things', async () => {
    const { Buyer: _buyer, ...withoutBuyer } = TAGS;
    const custom = (total: string) =>
      '<ofd:CustomDatas><ofd:CustomData Name="发票号码">26442000000012345678</ofd:CustomData><ofd:CustomData Name="开票日期">2026年09月01日</ofd:CustomData>' +
      `<ofd:CustomData Name="购买方纳税人识别号">91440300MA5G12345L</ofd:CustomData><ofd:CustomData Name="价税合计">${total}</ofd:CustomData></ofd:CustomDatas>`;
    const both = await checkOfd(tagged(customTag(withoutBuyer), { 'OFD.xml': ofdXml('Doc_0/Document.xml', custom('1272.00')) }));
    expect(both.invoice).toMatchObject({ source: 'CUSTOM_TAG', buyer: { name: null, taxId: '91440300MA5G12345L' }, totalFen: 127200 });
    expect(await ofdError(tagged(customTag(TAGS), { 'OFD.xml': ofdXml('Doc_0/Document.xml', custom('1.00')) }))).toBe(
      "the OFD's custom tags and DocInfo/CustomDatas disagree on the total",
    );
  });

  it('refuses tagged amounts that do not add up, and reads no invoice where the tagged objects are not on any page', async () => {
    const wrong = content(PAGE.replace('¥72.00', '¥72.50').slice(PAGE.indexOf('<ofd:Layer ID="3">') + 18, PAGE.lastIndexOf('</ofd:Layer>')));
    expect(await ofdError(tagged(customTag(TAGS), { 'Doc_0/Pages/Page_0/Content.xml': wrong }))).toBe(
      'Doc_0/Document.xml custom tag: TaxExclusiveTotalAmount + TaxTotalAmount differs from TaxInclusiveTotalAmount',
    );
    const empty = content(text(999, 'unrelated'));
    expect(await checkOfd(tagged(customTag(TAGS), { 'Doc_0/Pages/Page_0/Content.xml': empty, 'Doc_0/Tpls/Tpl_0/Content.xml': empty }))).toEqual({ documents: ['Doc_0/Document.xml'], invoice: null });
    // A tag file of another kind is no invoice either.
    expect((await checkOfd(tagged(`<?xml version="1.0" encoding="UTF-8"?><Other><InvoiceNo>${ref(101)}</InvoiceNo></Other>`))).invoice).toBeNull();
  });
});
