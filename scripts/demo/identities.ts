// Identity and bank numbers for demo employees that pass the checks real ones must (subgraphs/oa/validation.ts).
// Deterministic from a person's index, so every seed produces the same people. The numbers are well-formed only:
// they were made up, and are nobody's.
//
// Resident identity number (居民身份证号码, GB 11643-1999), 18 characters:
//   6-digit region code (GB/T 2260: province, city, district) + birth date YYYYMMDD + 3-digit sequence (odd for
//   men, even for women) + a check character (ISO 7064 MOD 11-2): S = Σ d[i] × W[i] over the first 17 digits with
//   W[i] = 2^(17−i) mod 11 (7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2), check = (12 − S mod 11) mod 11, 10 written X.
// Bank card number (UnionPay, ISO/IEC 7812), 19 digits:
//   6-digit issuer number (62…) + 12-digit account part + the Luhn check digit: from the right, every second digit
//   of the payload is doubled (9 subtracted when over 9) and the check digit makes the total a multiple of 10.

/** Plausible district codes (GB/T 2260). */
export const REGIONS = [
  { code: '310101', name: '上海市黄浦区' },
  { code: '110105', name: '北京市朝阳区' },
  { code: '330106', name: '杭州市西湖区' },
  { code: '440305', name: '深圳市南山区' },
  { code: '320102', name: '南京市玄武区' },
  { code: '510107', name: '成都市武侯区' },
  { code: '420106', name: '武汉市武昌区' },
  { code: '370102', name: '济南市历下区' },
] as const;

/** Debit card issuer numbers of large banks (UnionPay, 19-digit cards). */
export const CARD_ISSUERS = [
  { bin: '622202', bank: '中国工商银行' },
  { bin: '621700', bank: '中国建设银行' },
  { bin: '622848', bank: '中国农业银行' },
  { bin: '621661', bank: '中国银行' },
  { bin: '622262', bank: '交通银行' },
] as const;

const WEIGHTS = Array.from({ length: 17 }, (_, i) => 2 ** (17 - i) % 11);

/** The GB 11643-1999 check character of the first 17 digits. */
export function idCheckCharacter(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new Error('expected 17 digits');
  const sum = [...first17].reduce((s, d, i) => s + Number(d) * WEIGHTS[i], 0);
  const check = (12 - (sum % 11)) % 11;
  return check === 10 ? 'X' : String(check);
}

export interface IdNumberParts {
  /** 6-digit district code. */
  region: string;
  /** YYYY-MM-DD. */
  birthDate: string;
  /** 0 to 999; its parity says the sex (odd: male). */
  sequence: number;
}

export function residentIdNumber({ region, birthDate, sequence }: IdNumberParts): string {
  if (!/^\d{6}$/.test(region)) throw new Error('region must be 6 digits');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) throw new Error('birthDate must be YYYY-MM-DD');
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > 999) throw new Error('sequence must be 0 to 999');
  const first17 = `${region}${birthDate.replaceAll('-', '')}${String(sequence).padStart(3, '0')}`;
  return first17 + idCheckCharacter(first17);
}

/** The Luhn check digit that completes `payload`. */
export function luhnCheckDigit(payload: string): string {
  if (!/^\d+$/.test(payload)) throw new Error('expected digits');
  let sum = 0;
  // The check digit will stand rightmost, so the payload's rightmost digit is the first one doubled.
  for (let i = 0; i < payload.length; i++) {
    let n = Number(payload[payload.length - 1 - i]);
    if (i % 2 === 0) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
  }
  return String((10 - (sum % 10)) % 10);
}

export function bankCardNumber(bin: string, account: number): string {
  if (!/^62\d{4}$/.test(bin)) throw new Error('bin must be a 6-digit UnionPay issuer number (62…)');
  if (!Number.isSafeInteger(account) || account < 0 || account >= 1e12) throw new Error('account must be 0 to 999999999999');
  const payload = bin + String(account).padStart(12, '0');
  return payload + luhnCheckDigit(payload);
}

export interface DemoIdentity {
  idNumber: string;
  bankAccount: string;
  phone: string;
}

/**
 * The numbers of demo person `index` (0 to 999): a region and a bank in turn, the birth date and sex given, and
 * account and phone digits that differ for every index.
 */
export function demoIdentity(index: number, person: { birthDate: string; sex: 'F' | 'M' }): DemoIdentity {
  if (!Number.isInteger(index) || index < 0 || index > 999) throw new Error('index must be 0 to 999');
  const region = REGIONS[index % REGIONS.length].code;
  // Sequence numbers 100…: odd for men, even for women.
  const sequence = 100 + index * 2 + (person.sex === 'M' ? 1 : 0);
  const issuer = CARD_ISSUERS[index % CARD_ISSUERS.length].bin;
  return {
    idNumber: residentIdNumber({ region, birthDate: person.birthDate, sequence }),
    bankAccount: bankCardNumber(issuer, 880_000_104_729 + index * 7_919_113),
    // 139 0000 0000 onwards: mobile numbers of the form the validator takes.
    phone: `1390000${String(1000 + index).padStart(4, '0')}`,
  };
}
